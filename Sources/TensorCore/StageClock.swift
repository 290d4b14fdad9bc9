import Foundation

/// Wall time spent in named stages of a forward pass (backbone, text encoder, each tower part, post-processing),
/// summed while recording is on, for `glip bench --breakdown`. Off, a stage costs one flag test. Tensor operations
/// run eagerly and return finished results, so a stage's wall time is the work done inside it.
public enum StageClock {
  nonisolated(unsafe) public private(set) static var isRecording = false
  nonisolated(unsafe) private static var totals: [String: Double] = [:]
  nonisolated(unsafe) private static var order: [String] = []
  nonisolated(unsafe) private static var flops: Double = 0
  private static let flopLock = NSLock()

  /// The matrix-product floating-point operations (2·m·n·k per product) counted since `start`: every dense and
  /// grouped convolution, linear layer and attention product goes through one; depthwise convolutions and
  /// element-wise work are not counted.
  public static var countedFlops: Double {
    flopLock.lock()
    defer { flopLock.unlock() }
    return flops
  }

  /// Adds a product's operations when recording (products may run on several threads at once).
  @inline(__always)
  static func countProduct(m: Int, n: Int, k: Int) {
    guard isRecording else { return }
    flopLock.lock()
    flops += 2 * Double(m) * Double(n) * Double(k)
    flopLock.unlock()
  }

  /// Starts recording from zero.
  public static func start() {
    totals = [:]
    order = []
    flops = 0
    isRecording = true
  }

  /// Stops recording and returns each stage's summed seconds, in the order the stages first ran.
  @discardableResult
  public static func stop() -> [(stage: String, seconds: Double)] {
    isRecording = false
    return order.map { ($0, totals[$0]!) }
  }

  /// Runs `body`, adding its wall time to `stage` when recording. Nested stages are counted in their parent too.
  @inline(__always)
  public static func measure<Result>(_ stage: @autoclosure () -> String, _ body: () throws -> Result) rethrows
    -> Result
  {
    guard isRecording else { return try body() }
    let start = DispatchTime.now().uptimeNanoseconds
    let result = try body()
    let name = stage()
    if totals[name] == nil { order.append(name) }
    totals[name, default: 0] += Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
    return result
  }
}
