#!/usr/bin/env bash
# Builds kftray-server for linux/amd64 and linux/arm64 into dist/ and, when
# docker buildx is available and PUSH=1, builds and pushes the multi-arch
# image IMAGE:VERSION.
#
#   VERSION   image tag and version stamped into the binaries
#             (default: git describe, e.g. v0.1.0 or v0.1.0-3-gabc1234-dirty)
#   IMAGE     image name without tag (default ghcr.io/kftray-go/kftray-server)
#   PUSH=1    build and push the image (needs docker buildx and a login)
#
# The forwarder deploys IMAGE:VERSION of its own build (package manifest,
# stamped with the same ldflags), so relay and forwarder always match.
# There is no :latest.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
cd "$root"

VERSION="${VERSION:-$(git describe --tags --always --dirty 2>/dev/null || echo dev)}"
VERSION="${VERSION//+/-}" # image tags may not contain '+'
IMAGE="${IMAGE:-ghcr.io/kftray-go/kftray-server}"
if [[ "$VERSION" == latest ]]; then
	echo "build.sh: VERSION=latest is not allowed; pin a real version" >&2
	exit 2
fi

# The forwarder's build stamps the same buildinfo.Version (and, for another
# registry, manifest.Repository), so it deploys this image.
ldflags="-s -w -X github.com/kftray-go/kftray/internal/buildinfo.Version=$VERSION -X github.com/kftray-go/kftray/packaging/kftray-server/manifest.Repository=$IMAGE"
for arch in amd64 arm64; do
	out="$here/dist/linux-$arch/kftray-server"
	CGO_ENABLED=0 GOOS=linux GOARCH="$arch" \
		go build -trimpath -ldflags "$ldflags" -o "$out" ./cmd/kftray-server
	echo "built $out"
done

if [[ "${PUSH:-0}" == 1 ]]; then
	docker buildx build --platform linux/amd64,linux/arm64 \
		--tag "$IMAGE:$VERSION" --push "$here"
else
	echo "image: $IMAGE:$VERSION (set PUSH=1 to build and push with docker buildx)"
fi
