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

  @Option(help: "Save the first run's result tensors to this safetensors file (to compare BLAS kernels).")
  var output: String?

  @Flag(help: "Print one JSON object per case.")
  var json = false

  func validate() throws {
    for name in cases {
      guard let benchCase = BenchCase.named(name) else {
        throw ValidationError(
          "unknown bench case '\(name)'; known cases: \(BenchCase.all.map(\.name).joined(separator: ", "))")
      }
      if train && !benchCase.trains {
        throw ValidationError(
          "bench case '\(name)' has no training step; cases with --train: "
            + BenchCase.all.filter(\.trains).map(\.name).joined(separator: ", "))
      }
    }
    guard repetitions > 0 else { throw ValidationError("--repeat must be positive, got \(repetitions)") }
    guard warmup >= 0 else { throw ValidationError("--warmup must not be negative, got \(warmup)") }
    for (name, value) in [("batch", batch), ("size", size), ("tokens", tokens)] {
      if let value, value <= 0 { throw ValidationError("--\(name) must be positive, got \(value)") }
    }
    if output != nil && cases.count != 1 { throw ValidationError("--output needs exactly one case") }
  }

  func run() throws {
    let selected =
      cases.isEmpty ? BenchCase.all.filter { !train || $0.trains } : cases.compactMap { BenchCase.named($0) }
    if !json {
      print("OpenBLAS kernel: \(BLAS.coreName), products split over \(Parallel.coreCount) threads")
      print("Convolutions (GLIP_CONV_BACKEND): \(ConvolutionBackend.summary)")
    }
    for benchCase in selected {
      var shape = benchCase.defaults(train)
      if let batch { shape.batch = batch }
      if let size { shape.size = size }
      if let tokens { shape.tokens = tokens }
      let body = try benchCase.makeBody(shape)
      let first = body()
      if let output {
        try SafetensorsFile(tensors: first.mapValues { $0.detached() }).write(path: output)
      }
      for _ in 0..<max(warmup - 1, 0) { _ = body() }
      var times: [Double] = []
      for _ in 0..<repetitions {
        let start = DispatchTime.now().uptimeNanoseconds
        _ = body()
        times.append(Double(DispatchTime.now().uptimeNanoseconds - start) / 1e6)
      }
      let result = BenchResult(label: benchCase.label(shape), flops: benchCase.flops(shape), times: times)
      print(json ? result.json : result.line)
    }
  }
}

struct BenchResult {
  let label: String
  let flops: Double
  let median: Double
  let minimum: Double
  let maximum: Double

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
    let rate = flops > 0 ? String(format: "  %7.1f GFLOP/s", flops / median / 1e6) : ""
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
      ("conv_backend", "\"\(ConvolutionBackend.summary.replacingOccurrences(of: "\"", with: "'"))\""),
    ]
    return "{" + fields.map { "\"\($0.0)\": \($0.1)" }.joined(separator: ", ") + "}"
  }
}
