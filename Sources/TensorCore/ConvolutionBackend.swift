import Foundation

/// Which implementation runs `Tensor.conv2d`, its gradients and `Tensor.fusedConv2d`.
///
/// oneDNN (`libdnnl.so.2`, Debian `libdnnl2`) is opened at run time when it is installed; without it every
/// convolution runs our own kernels, whatever the choice. `GLIP_CONV_BACKEND=auto|own|onednn` sets the choice for
/// the process (auto when unset).
///
/// ```swift
/// ConvolutionBackend.with(.own) { Tensor.conv2d(input, weight: weight, padding: (1, 1)) }
/// ```
public enum ConvolutionBackend: String, Sendable, CaseIterable {
  /// oneDNN for the convolutions and passes where it measured faster (see `OneDNNConvolution.prefers`), our kernels
  /// elsewhere.
  case automatic = "auto"
  /// Our kernels only: im2col + sgemm, and the direct depthwise kernel.
  case own
  /// oneDNN for every convolution, depthwise included, while it is loaded.
  case onednn

  private static let lock = NSLock()
  nonisolated(unsafe) private static var override: ConvolutionBackend?

  /// From `GLIP_CONV_BACKEND`; an unknown value is reported once on standard error and means `auto`.
  public static let environment: ConvolutionBackend = {
    guard let value = ProcessInfo.processInfo.environment["GLIP_CONV_BACKEND"], !value.isEmpty else {
      return .automatic
    }
    guard let backend = ConvolutionBackend(rawValue: value.lowercased()) else {
      FileHandle.standardError.write(Data("GLIP_CONV_BACKEND=\(value) is not auto, own or onednn; using auto\n".utf8))
      return .automatic
    }
    return backend
  }()

  /// The choice in force: the innermost `with(_:_:)`, else the environment's.
  public static var current: ConvolutionBackend {
    lock.lock()
    defer { lock.unlock() }
    return override ?? environment
  }

  /// Runs `body` with `backend` chosen for the whole process (tests compare the two paths this way).
  public static func with<Result>(_ backend: ConvolutionBackend, _ body: () throws -> Result) rethrows -> Result {
    lock.lock()
    let outer = override
    override = backend
    lock.unlock()
    defer {
      lock.lock()
      override = outer
      lock.unlock()
    }
    return try body()
  }

  /// Whether oneDNN is loaded in this process (it is loaded on first use of this property or of a convolution).
  public static var isOneDNNAvailable: Bool { OneDNN.shared != nil }

  /// One line for logs and benchmarks: the choice and what it resolves to, for example
  /// `auto: oneDNN 2.6.3 (jit, OpenMP 2 threads, OMP_WAIT_POLICY=PASSIVE)` or `auto: own kernels (oneDNN: cannot
  /// open ...)`.
  public static var summary: String {
    let choice = current
    guard choice != .own else { return "own: own kernels" }
    switch OneDNN.loaded {
    case .success(let runtime): return "\(choice.rawValue): \(runtime.summary)"
    case .failure(let error): return "\(choice.rawValue): own kernels (\(error.message))"
    }
  }

  /// The oneDNN runtime to run `pass` of a convolution of geometry `g` on, or nil for our own kernels.
  static func oneDNN(for g: Tensor.ConvGeometry, _ pass: OneDNNConvolution.Pass) -> OneDNN? {
    let choice = current
    // Background work (batch decoding) stays on its own thread; OpenMP would take every core.
    guard choice != .own, !Parallel.isSerial, g.batch > 0, g.channels > 0, g.outChannels > 0,
      let runtime = OneDNN.shared
    else { return nil }
    return choice == .onednn || OneDNNConvolution.prefers(g, pass) ? runtime : nil
  }
}
