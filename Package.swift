// swift-tools-version:6.1
import PackageDescription

let optimized: [SwiftSetting] = [.unsafeFlags(["-Ounchecked", "-wmo"], .when(configuration: .release))]

let package = Package(
  name: "GLIPSwift",
  platforms: [.macOS(.v14)],
  products: [
    .executable(name: "glip", targets: ["glip"]),
    .library(name: "TensorCore", targets: ["TensorCore"]),
    .library(name: "NN", targets: ["NN"]),
    .library(name: "Config", targets: ["Config"]),
    .library(name: "Language", targets: ["Language"]),
    .library(name: "Imaging", targets: ["Imaging"]),
    .library(name: "Evaluation", targets: ["Evaluation"]),
    .library(name: "Datasets", targets: ["Datasets"]),
    .library(name: "Training", targets: ["Training"]),
    .library(name: "Detection", targets: ["Detection"]),
    .library(name: "Components", targets: ["Components"]),
    .library(name: "Experiments", targets: ["Experiments"]),
    .library(name: "Reporting", targets: ["Reporting"]),
  ],
  // `swift build --traits MPI` links Open MPI (libopenmpi-dev) for `mpirun -np N glip train`; the default build
  // needs no MPI and trains in one process.
  traits: [
    .trait(name: "MPI", description: "Data-parallel training over Open MPI (libopenmpi-dev, pkg-config ompi-c)")
  ],
  dependencies: [
    .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
    .package(url: "https://github.com/weichsel/ZIPFoundation", from: "0.9.19"),
  ],
  targets: [
    .systemLibrary(
      name: "COpenBLAS", path: "Sources/COpenBLAS", pkgConfig: "openblas",
      providers: [.apt(["libopenblas-dev"])]),
    .systemLibrary(
      name: "CYAML", path: "Sources/CYAML", pkgConfig: "yaml-0.1", providers: [.apt(["libyaml-dev"])]),
    .systemLibrary(
      name: "CPNG", path: "Sources/CPNG", pkgConfig: "libpng", providers: [.apt(["libpng-dev"])]),
    .systemLibrary(
      name: "CJPEG", path: "Sources/CJPEG", pkgConfig: "libjpeg",
      providers: [.apt(["libjpeg62-turbo-dev"])]),
    .systemLibrary(
      name: "CMPI", path: "Sources/CMPI", pkgConfig: "ompi-c", providers: [.apt(["libopenmpi-dev"])]),
    // oneDNN's C API declared for loading libdnnl.so.2 at run time: no build dependency, our kernels without it.
    .target(
      name: "CDNNL", path: "Sources/CDNNL", linkerSettings: [.linkedLibrary("dl", .when(platforms: [.linux]))]),
    // mremap for the buffer pool (Linux; elsewhere the pool maps fresh memory instead).
    .target(name: "CMemory", path: "Sources/CMemory"),
    .target(name: "TensorCore", dependencies: ["COpenBLAS", "CDNNL", "CMemory"], swiftSettings: optimized),
    .target(
      name: "NN", dependencies: ["TensorCore", .product(name: "ZIPFoundation", package: "ZIPFoundation")],
      swiftSettings: optimized),
    // The communicator protocol, gradient buckets and state broadcasts; MPI only with the trait.
    .target(
      name: "DataParallel",
      dependencies: ["TensorCore", "NN", .target(name: "CMPI", condition: .when(traits: ["MPI"]))],
      swiftSettings: optimized),
    .target(name: "Config", dependencies: ["CYAML"]),
    .target(name: "Evaluation", dependencies: ["TensorCore"], swiftSettings: optimized),
    .target(name: "Imaging", dependencies: ["TensorCore", "CPNG", "CJPEG"], swiftSettings: optimized),
    .target(name: "Language", swiftSettings: optimized),
    .target(
      name: "Datasets", dependencies: ["TensorCore", "Config", "Imaging", "Language"], swiftSettings: optimized),
    .target(
      name: "Detection", dependencies: ["TensorCore", "NN", "Config", "Imaging", "Language", "DataParallel"],
      swiftSettings: optimized),
    .target(
      name: "Components", dependencies: ["TensorCore", "NN", "Config", "Imaging", "Language", "Detection"],
      swiftSettings: optimized),
    .target(
      name: "Training",
      dependencies: [
        "TensorCore", "NN", "Config", "Imaging", "Language", "Detection", "Datasets", "Evaluation", "DataParallel",
      ],
      swiftSettings: optimized),
    // The composition root: config -> model, data and schedule; ablation plans and runs; run evaluation.
    .target(
      name: "Experiments",
      dependencies: [
        "TensorCore", "NN", "Config", "Detection", "Components", "Datasets", "Evaluation", "Training",
        "DataParallel",
      ]),
    .target(
      name: "Reporting",
      dependencies: ["Config", "Imaging", "Language", "Detection", "Datasets", "Training", "Experiments"]),
    .executableTarget(
      name: "glip",
      dependencies: [
        "TensorCore", "NN", "Config", "Language", "Imaging", "Detection", "Components", "Evaluation", "Datasets",
        "Training", "Experiments", "Reporting", "DataParallel",
        .product(name: "ArgumentParser", package: "swift-argument-parser"),
      ],
      swiftSettings: optimized),
    .plugin(
      name: "ValidateConfigs",
      capability: .command(
        intent: .custom(verb: "validate-configs", description: "Run glip config check on every config under configs/")),
      dependencies: ["glip"], path: "Plugins/ValidateConfigs"),
    .plugin(
      name: "ConvertCheckpoint",
      capability: .command(
        intent: .custom(verb: "convert-checkpoint", description: "Convert a PyTorch checkpoint with glip convert"),
        permissions: [.writeToPackageDirectory(reason: "writes the converted .safetensors file")]),
      dependencies: ["glip"], path: "Plugins/ConvertCheckpoint"),
    .target(name: "TensorCoreTestSupport", dependencies: ["TensorCore"], path: "Tests/TensorCoreTestSupport"),
    .testTarget(name: "TensorCoreTests", dependencies: ["TensorCore", "TensorCoreTestSupport"]),
    .testTarget(name: "NNTests", dependencies: ["NN", "TensorCore", "TensorCoreTestSupport"]),
    .testTarget(name: "ConfigTests", dependencies: ["Config"]),
    .testTarget(
      name: "DataParallelTests",
      dependencies: [
        "DataParallel", "Training", "Experiments", "Components", "Datasets", "Detection", "NN", "TensorCore",
        "TensorCoreTestSupport",
      ]),
    .testTarget(
      name: "TrainingTests",
      dependencies: [
        "Training", "Datasets", "Components", "Experiments", "Detection", "Imaging", "Language", "Config", "NN",
        "TensorCore", "TensorCoreTestSupport",
      ]),
    .testTarget(
      name: "ReportingTests",
      dependencies: [
        "Reporting", "Training", "Datasets", "Components", "Experiments", "Detection", "Config", "Imaging",
        "TensorCore",
        "TensorCoreTestSupport",
      ]),
    .testTarget(name: "DatasetsTests", dependencies: ["Datasets", "Imaging", "Language", "TensorCore"]),
    .testTarget(name: "EvaluationTests", dependencies: ["Evaluation", "TensorCoreTestSupport"]),
    .testTarget(name: "ImagingTests", dependencies: ["Imaging", "TensorCore", "TensorCoreTestSupport"]),
    .testTarget(name: "LanguageTests", dependencies: ["Language", "TensorCore", "TensorCoreTestSupport"]),
    .testTarget(name: "ToolingTests", dependencies: ["TensorCoreTestSupport"]),
    .testTarget(
      name: "CustomPluginTests",
      dependencies: [
        "Components", "Experiments", "Datasets", "Language", "Training", "Detection", "Imaging", "Config", "NN",
        "TensorCore",
      ]),
    .testTarget(
      name: "ComponentsTests",
      dependencies: [
        "Components", "Experiments", "Detection", "Imaging", "Config", "NN", "TensorCore", "TensorCoreTestSupport",
      ]),
  ],
  swiftLanguageModes: [.v5]
)
