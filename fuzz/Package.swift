// swift-tools-version:6.1
// libFuzzer harnesses for every parser of the main package, kept out of its build so `swift build` and `make test`
// need no sanitizer. Built and run by `make fuzz` / `make fuzz-ci` (see scripts/fuzz.sh):
//   swift build -c release -Xswiftc -sanitize=fuzzer,address
import PackageDescription

func fuzzer(_ name: String, _ products: [String]) -> Target {
  .executableTarget(
    name: name,
    dependencies: ["FuzzSupport"] + products.map { .product(name: $0, package: "GLIPSwift") },
    path: "Sources/\(name)")
}

let package = Package(
  name: "GLIPFuzz",
  platforms: [.macOS(.v14)],
  dependencies: [.package(name: "GLIPSwift", path: "..")],
  targets: [
    // SwiftPM gives every executable its own main, so a harness's main.swift hands control to libFuzzer through
    // LLVMFuzzerRunDriver rather than linking libFuzzer's main.
    .target(name: "CLibFuzzer", path: "Sources/CLibFuzzer"),
    .target(name: "FuzzSupport", dependencies: ["CLibFuzzer"], path: "Sources/FuzzSupport"),
    fuzzer("fuzz-config", ["Config", "Experiments", "TensorCore"]),
    fuzzer("fuzz-png", ["Imaging"]),
    fuzzer("fuzz-jpeg", ["Imaging"]),
    fuzzer("fuzz-safetensors", ["TensorCore"]),
    fuzzer("fuzz-pth", ["NN"]),
    fuzzer("fuzz-coco", ["Datasets", "Evaluation"]),
    fuzzer("fuzz-odvg", ["Datasets"]),
    fuzzer("fuzz-prompt", ["Language"]),
    fuzzer("fuzz-remap", ["Detection"]),
  ],
  swiftLanguageModes: [.v5]
)
