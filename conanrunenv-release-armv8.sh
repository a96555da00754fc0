script_folder="/work/main"
echo "echo Restoring environment" > "$script_folder/deactivate_conanrunenv-release-armv8.sh"
for v in QEMU_LD_PREFIX LD_LIBRARY_PATH DYLD_LIBRARY_PATH
do
   is_defined="true"
   value=$(printenv $v) || is_defined="" || true
   if [ -n "$value" ] || [ -n "$is_defined" ]
   then
       echo export "$v='$value'" >> "$script_folder/deactivate_conanrunenv-release-armv8.sh"
   else
       echo unset $v >> "$script_folder/deactivate_conanrunenv-release-armv8.sh"
   fi
done

export QEMU_LD_PREFIX="/tmp/edgeforge-bench-mhn88m_t/sysroots/debian-bullseye-arm64-a3f3abdc120a76ce"
export LD_LIBRARY_PATH="/tmp/edgeforge-bench-mhn88m_t/conan2/p/openccc6f151f9c1d9/p/lib:/tmp/edgeforge-bench-mhn88m_t/conan2/p/ffmpe526b99ec5ebf2/p/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
export DYLD_LIBRARY_PATH="/tmp/edgeforge-bench-mhn88m_t/conan2/p/openccc6f151f9c1d9/p/lib:/tmp/edgeforge-bench-mhn88m_t/conan2/p/ffmpe526b99ec5ebf2/p/lib${DYLD_LIBRARY_PATH:+:$DYLD_LIBRARY_PATH}"