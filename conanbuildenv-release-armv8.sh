script_folder="/work/main"
echo "echo Restoring environment" > "$script_folder/deactivate_conanbuildenv-release-armv8.sh"
for v in QEMU_LD_PREFIX PKG_CONFIG OBJCOPY NM STRIP RANLIB AR CXX CC
do
   is_defined="true"
   value=$(printenv $v) || is_defined="" || true
   if [ -n "$value" ] || [ -n "$is_defined" ]
   then
       echo export "$v='$value'" >> "$script_folder/deactivate_conanbuildenv-release-armv8.sh"
   else
       echo unset $v >> "$script_folder/deactivate_conanbuildenv-release-armv8.sh"
   fi
done

export QEMU_LD_PREFIX="/tmp/edgeforge-bench-mhn88m_t/sysroots/debian-bullseye-arm64-a3f3abdc120a76ce"
export PKG_CONFIG="/tmp/edgeforge-bench-logs-n1ofywk2/b-remote/jetson-nx/toolchain/pkg-config"
export OBJCOPY="/usr/bin/llvm-objcopy-14"
export NM="/usr/bin/llvm-nm-14"
export STRIP="/usr/bin/llvm-strip-14"
export RANLIB="/usr/bin/llvm-ranlib-14"
export AR="/usr/bin/llvm-ar-14"
export CXX="/tmp/edgeforge-bench-logs-n1ofywk2/b-remote/jetson-nx/toolchain/bin/aarch64-linux-gnu-clang++"
export CC="/tmp/edgeforge-bench-logs-n1ofywk2/b-remote/jetson-nx/toolchain/bin/aarch64-linux-gnu-clang"