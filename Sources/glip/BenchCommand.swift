import ArgumentParser
import Foundation
import TensorCore

struct BenchCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "bench",
    abstract: "Time a kernel or model case: warm-up, then repeated runs; prints median, min, max and peak RSS.",
    discussion: """
      Cases (forward by default; --train times a training step where marked):
      \(BenchCase.all.map { "  \($0.name)\($0.trains ? " (--train)" : ""): \($0.summary)" }.joined(separator: "\n"))
      Compare with PyTorch on the same machine: scripts/reference/bench_torch.py, or `make bench` for both.
      """)

  @Argument(help: "Cases to run (default: every case, or every trainable case with --train).")
  var cases: [String] = []

  @Flag(help: "Time a training step (forward, backward, AdamW) instead of a forward pass.")
  var train = false

  @Option(name: .customLong("repeat"), help: "Timed repetitions after the warm-up.")
  var repetitions: Int = 10

  @Option(help: "Warm-up runs.")
  var warmup: Int = 2

  @Option(help: "Batch size (default: the case's).")
  var batch: Int?

  @Option(help: "Input side in pixels (default: the case's).")
  var size: Int?

  @Option(help: "Prompt length in tokens (default: the case's).")
  var tokens: Int?

  @Option(help: "Input width in pixels where it differs from --size, the height (default: the case's).")
  var width: Int?

  @Flag(help: "Also print where the time of the timed runs went: backbone, neck, text encoder, each tower part, …")
  var breakdown = false

  @Option(help: "Save the first run's result tensors to this safetensors file (to compare BLAS kernels).")
  var output: String?

  @Flag(help: "Print one JSON object per case.")
  var json = false

  func validate() throws {
    guard repetitions > 0 else { throw ValidationError("--repeat must be positive, got \(repetitions)") }
    guard warmup >= 0 else { throw ValidationError("--warmup must not be negative, got \(warmup)") }
    for (name, value) in [("batch", batch), ("size", size), ("tokens", tokens), ("width", width)] {
      if let value, value <= 0 { throw ValidationError("--\(name) must be positive, got \(value)") }
    }
    if output != nil && cases.count != 1 { throw ValidationError("--output needs exactly one case") }
  }

  /// The cases named, checked here rather than in `validate()`: the argument parser reports a mistyped option
  /// (`--tokns 64`) only after validation, and its value would otherwise be refused first as a case named "64".
  private func selectedCases() throws -> [BenchCase] {
    guard !cases.isEmpty else { return BenchCase.all.filter { !train || $0.trains } }
    return try cases.map { name in
      guard let benchCase = BenchCase.named(name) else {
        throw ValidationError(
          "unknown bench case '\(name)'; known cases: \(BenchCase.all.map(\.name).joined(separator: ", "))")
      }
      if train && !benchCase.trains {
        throw ValidationError(
          "bench case '\(name)' has no training step; cases with --train: "
            + BenchCase.all.filter(\.trains).map(\.name).joined(separator: ", "))
      }
      return benchCase
    }
  }

  func run() throws {
    let selected = try selectedCases()
    if !json {
      print("OpenBLAS kernel: \(OpenBLASKernel.selection.summary), products split over \(Parallel.coreCount) threads")
      print("Matrix products (GLIP_GEMM_BACKEND): \(KernelBackend.products.summary)")
      print("Convolutions (GLIP_CONV_BACKEND): \(KernelBackend.convolutions.summary)")
      print("oneDNN layouts (GLIP_ONEDNN_LAYOUT): \(OneDNNLayoutChoice.current.rawValue)")
    }
    for benchCase in selected {
      var shape = benchCase.defaults(train)
      if let batch { shape.batch = batch }
      if let size { shape.size = size }
      if let tokens { shape.tokens = tokens }
      if let width { shape.width = width }
      let body = try benchCase.makeBody(shape)
      let first = body()
      if let output {
        try SafetensorsFile(tensors: first.mapValues { $0.detached() }).write(path: output)
      }
      for _ in 0..<max(warmup - 1, 0) { _ = body() }
      var times: [Double] = []
      if breakdown { StageClock.start() }
      for _ in 0..<repetitions {
        let start = DispatchTime.now().uptimeNanoseconds
        _ = body()
        times.append(Double(DispatchTime.now().uptimeNanoseconds - start) / 1e6)
      }
      var result = BenchResult(label: benchCase.label(shape), flops: benchCase.flops(shape), times: times)
      if breakdown {
        result.countedFlops = StageClock.countedFlops / Double(repetitions)
        result.stages = StageClock.stop().map { ($0.stage, $0.seconds * 1000 / Double(repetitions)) }
      }
      print(json ? result.json : result.line)
      if breakdown && !json { print(result.breakdownTable) }
    }
  }
}

struct BenchResult {
  let label: String
  let flops: Double
  let median: Double
  let minimum: Double
  let maximum: Double
  /// With `--breakdown`: milliseconds per run in each stage, and the matrix-product operations per run.
  var stages: [(stage: String, milliseconds: Double)] = []
  var countedFlops: Double = 0

  /// The operation count for rates: the case's own tally, or the products counted while timing.
  var rateFlops: Double { flops > 0 ? flops : countedFlops }

  init(label: String, flops: Double, times: [Double]) {
    self.label = label
    self.flops = flops
    let sorted = times.sorted()
    median =
      sorted.count % 2 == 1 ? sorted[sorted.count / 2] : (sorted[sorted.count / 2 - 1] + sorted[sorted.count / 2]) / 2
    minimum = sorted.first!
    maximum = sorted.last!
  }

  static var peakRSSMegabytes: Double { Double(ProcessMemory.peakResidentBytes ?? 0) / (1024 * 1024) }

  var line: String {
    let rate = rateFlops > 0 ? String(format: "  %7.1f GFLOP/s", rateFlops / median / 1e6) : ""
    return String(
      format: "%-24@ median %9.3f ms  min %9.3f  max %9.3f%@  peak RSS %.0f MB",
      label as NSString, median, minimum, maximum, rate as NSString, BenchResult.peakRSSMegabytes)
  }

  /// Exactly the fields `make bench` reads.
  var json: String {
    let fields: [(String, String)] = [
      ("case", "\"\(label)\""), ("median_ms", String(format: "%.3f", median)),
      ("min_ms", String(format: "%.3f", minimum)), ("max_ms", String(format: "%.3f", maximum)),
      ("peak_rss_mb", String(format: "%.1f", BenchResult.peakRSSMegabytes)), ("blas_core", "\"\(BLAS.coreName)\""),
      ("blas_core_detected", "\"\(OpenBLASKernel.selection.detected)\""),
      ("conv_backend", "\"\(KernelBackend.convolutions.summary.replacingOccurrences(of: "\"", with: "'"))\""),
      ("gemm_backend", "\"\(KernelBackend.products.summary.replacingOccurrences(of: "\"", with: "'"))\""),
      ("onednn_layout", "\"\(OneDNNLayoutChoice.current.rawValue)\""),
    ]
    let breakdown: [(String, String)] =
      stages.isEmpty
      ? []
      : [
        ("gflop", String(format: "%.2f", countedFlops / 1e9)),
        (
          "stages_ms",
          "{" + stages.map { String(format: "\"%@\": %.2f", $0.stage, $0.milliseconds) }.joined(separator: ", ") + "}"
        ),
      ]
    return "{" + (fields + breakdown).map { "\"\($0.0)\": \($0.1)" }.joined(separator: ", ") + "}"
  }

  /// Each stage's milliseconds per run and share of the median (the stages do not overlap), then what none of them
  /// covers as "other".
  var breakdownTable: String {
    func row(_ name: String, _ milliseconds: Double) -> String {
      "  " + name.padding(toLength: 22, withPad: " ", startingAt: 0)
        + String(format: "%9.1f ms  %5.1f%%", milliseconds, 100 * milliseconds / median)
    }
    let covered = stages.map(\.milliseconds).reduce(0, +)
    var lines = stages.map { row($0.stage, $0.milliseconds) } + [row("other", max(0, median - covered))]
    if countedFlops > 0 {
      lines.append(
        String(
          format: "  matrix products: %.1f GFLOP per run, %.1f GFLOP/s over the median", countedFlops / 1e9,
          countedFlops / median / 1e6))
    }
    return lines.joined(separator: "\n")
  }

}
