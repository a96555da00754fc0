"""deliver.oci"""

