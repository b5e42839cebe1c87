#!/usr/bin/env bash
# Generates examples/grpc-echo/Generated/*.swift from examples/grpc-echo/echo.proto
# with protoc (Debian's protobuf-compiler), swift-protobuf's protoc-gen-swift and
# grpc-swift-protobuf's protoc-gen-grpc-swift-2, at the versions Package.swift
# names. Building the two plugins takes minutes, so the output is committed
# and CI does not run this; run it again after changing echo.proto.
set -euo pipefail
cd "$(dirname "$0")/.."
command -v protoc >/dev/null || { echo "generate-grpc-echo: protoc is missing (apt-get install protobuf-compiler)" >&2; exit 1; }
work="${TMPDIR:-/tmp}/swiftlet-grpc-plugins"
mkdir -p "$work/Sources/plugins"
cat > "$work/Package.swift" <<'SWIFT'
// swift-tools-version:6.0
import PackageDescription
let package = Package(
    name: "plugins",
    dependencies: [
        .package(url: "https://github.com/apple/swift-protobuf", exact: "1.39.0"),
        .package(url: "https://github.com/grpc/grpc-swift-protobuf", exact: "2.4.1"),
    ],
    targets: [.executableTarget(name: "plugins")]
)
SWIFT
echo 'print("build the protoc plugins of the dependencies: --product protoc-gen-swift, protoc-gen-grpc-swift-2")' > "$work/Sources/plugins/main.swift"
swift build -c release --package-path "$work" --product protoc-gen-swift
swift build -c release --package-path "$work" --product protoc-gen-grpc-swift-2
bin="$(swift build -c release --package-path "$work" --show-bin-path)"
out=examples/grpc-echo/Generated
rm -f "$out"/*.swift
protoc --proto_path=examples/grpc-echo \
  --plugin=protoc-gen-swift="$bin/protoc-gen-swift" --swift_out="$out" \
  --plugin=protoc-gen-grpc-swift-2="$bin/protoc-gen-grpc-swift-2" --grpc-swift-2_out="$out" \
  echo.proto
ls "$out"
