#!/usr/bin/env bash
# Set up a fresh machine for the book and its tests: the system packages the browser, WebGPU and
# Jupyter tests need (Debian/Ubuntu: Chromium, the Vulkan loader, the classic Jupyter notebook,
# ipykernel, jupyterlab_server), then the npm packages exactly as package-lock.json pins them, and
# the JupyterLab front end of scripts/lab/. Safe to run again.
set -euo pipefail
cd "$(dirname "$0")/.."

need=()
[ -x /usr/bin/chromium ] || need+=(chromium)
# The Vulkan loader: WebGPU tests run Dawn on SwiftShader, the CPU Vulkan driver chromium ships.
ldconfig -p 2>/dev/null | grep -q "libvulkan.so.1 " || need+=(libvulkan1)
[ -x /usr/bin/jupyter-notebook ] || need+=(jupyter-notebook)
[ -x /usr/bin/jupyter-kernelspec ] || need+=(jupyter-client)
/usr/bin/python3 -c "import ipykernel" 2>/dev/null || need+=(python3-ipykernel)
/usr/bin/python3 -c "import jupyterlab_server" 2>/dev/null || need+=(python3-jupyterlab-server)
if [ ${#need[@]} -gt 0 ]; then
  if command -v apt-get >/dev/null; then
    sudo=""; [ "$(id -u)" = 0 ] || sudo="sudo"
    echo "setup: installing ${need[*]} with apt-get"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
  else
    echo "setup: please install ${need[*]} (only the browser and Jupyter tests need them)" >&2
  fi
fi

# npm ci, unless node_modules was installed from this very package-lock.json already.
lock_hash=$(sha256sum package-lock.json | cut -d' ' -f1)
if [ "$(cat node_modules/.lock-hash 2>/dev/null)" != "$lock_hash" ]; then
  npm ci --no-audit --no-fund
  echo "$lock_hash" > node_modules/.lock-hash
fi

# The JupyterLab front end (npm run lab, test/notebooks/jupyterlab.test.ts), built in .cache/lab/
# unless it is already built from the current scripts/lab/ sources.
# A failed build stops nothing else: the Lab test then fails, saying what is missing.
npx tsx scripts/lab.ts --build-only || echo "setup: the JupyterLab front end did not build (see above); npm run lab and its test need it" >&2
