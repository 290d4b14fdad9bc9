import ArgumentParser
import Components
import Config
import Detection
import Foundation
import TensorCore

struct BenchCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "bench",
    abstract: "Time a kernel or model case: warm-up, then repeated runs; prints median, min, max and GFLOP/s.",
    discussion: """
      Cases: \(BenchCase.all.map(\.name).joined(separator: ", ")).
      Compare with PyTorch on the same machine: scripts/reference/bench_torch.py, or `make bench` for both.
      """)

  @Argument(help: "Cases to run (default: all).")
  var cases: [String] = []

  @Option(name: .customLong("repeat"), help: "Timed repetitions after the warm-up.")
  var repetitions: Int = 10

  @Option(help: "Warm-up runs.")
  var warmup: Int = 3

  @Flag(help: "Print one JSON object per case.")
  var json = false

  func validate() throws {
    let known = Set(BenchCase.all.map(\.name))
    for name in cases where !known.contains(name) {
      throw ValidationError(
        "unknown bench case '\(name)'; known cases: \(BenchCase.all.map(\.name).joined(separator: ", "))")
    }
    guard repetitions > 0 else { throw ValidationError("--repeat must be positive, got \(repetitions)") }
  }

  func run() throws {
    let selected = cases.isEmpty ? BenchCase.all : cases.compactMap { name in BenchCase.all.first { $0.name == name } }
    if !json { print("OpenBLAS kernel: \(BLAS.coreName), \(BLAS.threadCount) threads") }
    for benchCase in selected {
      let body = benchCase.makeBody()
      for _ in 0..<warmup { body() }
      var times: [Double] = []
      for _ in 0..<repetitions {
        let start = DispatchTime.now().uptimeNanoseconds
        body()
        times.append(Double(DispatchTime.now().uptimeNanoseconds - start) / 1e6)
      }
      let result = BenchResult(benchCase: benchCase, times: times)
      print(json ? result.json : result.line)
    }
  }
}

/// A named, timed workload with its floating-point operation count.
struct BenchCase {
  let name: String
  let flops: Double
  /// Builds the inputs once and returns the closure that is timed.
  let makeBody: () -> () -> Void

  static let all: [BenchCase] = [
    BenchCase(name: "gemm", flops: 2 * pow(1024, 3)) {
      let a = Tensor.normal([1024, 1024], seed: 1)
      let b = Tensor.normal([1024, 1024], seed: 2)
      return { _ = withNoGrad { a.matmul(b) } }
    },
    BenchCase(name: "conv_fwd", flops: convFlops) {
      let (input, weight, bias) = convInputs(requiresGrad: false)
      return { _ = withNoGrad { Tensor.conv2d(input, weight: weight, bias: bias, padding: (1, 1)) } }
    },
    BenchCase(name: "conv_train", flops: 3 * convFlops) {
      let (input, weight, bias) = convInputs(requiresGrad: true)
      let seed = Tensor.normal([1, 256, 64, 64], seed: 4)
      return {
        input.grad = nil
        weight.grad = nil
        bias.grad = nil
        Tensor.conv2d(input, weight: weight, bias: bias, padding: (1, 1)).backward(seed)
      }
    },
    BenchCase(name: "glip_t_b", flops: 0, makeBody: glipTinyB),
  ]

  static let convFlops = 2.0 * 256 * 64 * 64 * 256 * 9

  /// GLIP-T (B) with random weights: one forward at 1×3×256×256 with a 32-token prompt.
  static func glipTinyB() -> () -> Void {
    Builtins.registerAll()
    let yaml = """
      model:
        backbone: {type: swin, variant: tiny, drop_path: 0}
        neck: {type: fpn, channels: 256, extra_levels: 2}
        text_encoder: {type: bert}
        fusion: {type: bi_attention, embed_dim: 2048, heads: 8}
        head: {type: atss, channels: 256, blocks: 6, dyhead: true}
      """
    let detector: GroundingDetector
    do {
      detector = try Assembler.assemble(
        try ConfigSection(root: try YAMLParser.parse(yaml, file: "glip_t_b")).section("model"))
    } catch {
      fatalError("GLIP-T (B) bench model does not assemble: \(error)")
    }
    detector.eval()
    let images = Tensor.normal([1, 3, 256, 256], seed: 1)
    let tokens = TokenBatch(
      ids: Tensor(shape: [1, 32], values: (0..<32).map { Float(1000 + $0 * 37) }), attentionMask: .ones([1, 32]))
    return { _ = withNoGrad { detector(images, tokens: tokens) } }
  }

  static func convInputs(requiresGrad: Bool) -> (Tensor, Tensor, Tensor) {
    var input = Tensor.normal([1, 256, 64, 64], seed: 1)
    var weight = Tensor.normal([256, 256, 3, 3], std: 0.02, seed: 2)
    var bias = Tensor.zeros([256])
    input.requiresGrad = requiresGrad
    weight.requiresGrad = requiresGrad
    bias.requiresGrad = requiresGrad
    return (input, weight, bias)
  }
}

struct BenchResult {
  let benchCase: BenchCase
  let median: Double
  let minimum: Double
  let maximum: Double

  init(benchCase: BenchCase, times: [Double]) {
    self.benchCase = benchCase
    let sorted = times.sorted()
    median =
      sorted.count % 2 == 1 ? sorted[sorted.count / 2] : (sorted[sorted.count / 2 - 1] + sorted[sorted.count / 2]) / 2
    minimum = sorted.first!
    maximum = sorted.last!
  }

  /// GFLOP/s, or 0 for cases whose operation count is not tallied.
  var gflops: Double { benchCase.flops / median / 1e6 }

  static var peakRSSMegabytes: Double {
    var usage = rusage()
    getrusage(__rusage_who_t(RUSAGE_SELF.rawValue), &usage)
    return Double(usage.ru_maxrss) / 1024
  }

  var line: String {
    String(
      format: "%-12@ median %9.3f ms  min %9.3f  max %9.3f  %7.1f GFLOP/s  peak RSS %.0f MB",
      benchCase.name as NSString, median, minimum, maximum, gflops, BenchResult.peakRSSMegabytes)
  }

  var json: String {
    let fields: [(String, String)] = [
      ("case", "\"\(benchCase.name)\""), ("impl", "\"glip \(ToolkitVersion.string)\""),
      ("median_ms", String(format: "%.3f", median)), ("min_ms", String(format: "%.3f", minimum)),
      ("max_ms", String(format: "%.3f", maximum)), ("gflops", String(format: "%.1f", gflops)),
      ("peak_rss_mb", String(format: "%.1f", BenchResult.peakRSSMegabytes)),
      ("blas_core", "\"\(BLAS.coreName)\""), ("threads", "\(Parallel.coreCount)"),
    ]
    return "{" + fields.map { "\"\($0.0)\": \($0.1)" }.joined(separator: ", ") + "}"
  }
}
