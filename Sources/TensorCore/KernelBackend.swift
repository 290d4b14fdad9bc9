import Foundation

/// Which implementation runs a family of kernels: our own, or oneDNN.
///
/// oneDNN (`libdnnl.so.2`, Debian `libdnnl2`) is opened at run time when it is installed; without it every kernel
/// runs our own code, whatever the choice. Two families choose separately, each from its environment variable (auto
/// when unset): convolutions (`GLIP_CONV_BACKEND`: `Tensor.conv2d`, its gradients and `Tensor.fusedConv2d`) and
/// matrix products (`GLIP_GEMM_BACKEND`: every product `Tensor.gemm` runs outside a parallel region).
///
/// ```swift
/// KernelBackend.convolutions.with(.own) { Tensor.conv2d(input, weight: weight, padding: (1, 1)) }
/// ```
public enum KernelBackend: String, Sendable, CaseIterable {
  /// oneDNN for the shapes and passes where it measured faster (`OneDNNConvolution.prefers`,
  /// `OneDNNMatMul.prefers`), our kernels elsewhere.
  case automatic = "auto"
  /// Our kernels only: im2col + sgemm and the direct depthwise kernel for convolutions, OpenBLAS for products.
  case own
  /// oneDNN for every convolution (depthwise included) and every product it can take, while it is loaded.
  case onednn

  /// Convolutions' choice, from `GLIP_CONV_BACKEND`.
  public static let convolutions = KernelBackendSetting(variable: "GLIP_CONV_BACKEND")
  /// Matrix products' choice, from `GLIP_GEMM_BACKEND`.
  public static let products = KernelBackendSetting(variable: "GLIP_GEMM_BACKEND")
  /// Every setting, for checks of the environment.
  public static let settings = [convolutions, products]

  /// Whether oneDNN is loaded in this process (it is loaded on first use of this property or of a kernel).
  public static var isOneDNNAvailable: Bool { OneDNN.shared != nil }
}

/// One family's `KernelBackend` for the whole process: its environment variable's, or the innermost `with(_:_:)`'s.
public final class KernelBackendSetting: @unchecked Sendable {
  /// The environment variable it is read from, for example `GLIP_CONV_BACKEND`.
  public let variable: String
  private let lock = NSLock()
  private var override: KernelBackend?

  /// From the environment variable; an unknown value means `auto` (the CLI refuses it before any kernel runs).
  public let environment: KernelBackend

  init(variable: String) {
    self.variable = variable
    let value = ProcessInfo.processInfo.environment[variable] ?? ""
    environment = KernelBackend(rawValue: value.lowercased()) ?? .automatic
  }

  /// Why the environment's value is not a backend, or nil when it is one or unset.
  public func problem(in environment: [String: String]) -> String? {
    guard let value = environment[variable], !value.isEmpty, KernelBackend(rawValue: value.lowercased()) == nil
    else { return nil }
    return "\(variable)=\(value): expected auto, own or onednn"
  }

  /// The choice in force.
  public var current: KernelBackend {
    lock.lock()
    defer { lock.unlock() }
    if let override { return override }
    return environment
  }

  /// Runs `body` with `backend` chosen for the whole process (tests compare the two paths this way).
  public func with<Result>(_ backend: KernelBackend, _ body: () throws -> Result) rethrows -> Result {
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

  /// One line for logs and benchmarks: the choice and what it resolves to, for example
  /// `auto: oneDNN 2.6.3 (OpenMP 2 threads, OMP_WAIT_POLICY=PASSIVE)` or `auto: own kernels (oneDNN: cannot
  /// open ...)`.
  public var summary: String {
    let choice = current
    guard choice != .own else { return "own: own kernels" }
    switch OneDNN.loaded {
    case .success(let runtime): return "\(choice.rawValue): \(runtime.summary)"
    case .failure(let error): return "\(choice.rawValue): own kernels (\(error.message))"
    }
  }

  /// The oneDNN runtime when the choice is oneDNN, or `auto` and `preferred()` says so; nil for our kernels.
  /// Background work (batch decoding) stays on its own thread: OpenMP would take every core.
  func oneDNN(preferred: () -> Bool) -> OneDNN? {
    let choice = current
    guard choice != .own, !Parallel.isSerial, let runtime = OneDNN.shared else { return nil }
    return choice == .onednn || preferred() ? runtime : nil
  }
}

/// The layouts oneDNN's convolutions work in (`GLIP_ONEDNN_LAYOUT`).
public enum OneDNNLayoutChoice: String, CaseIterable, Sendable {
  /// The layouts oneDNN chooses (blocked, such as `nChw16c`), kept from one layer to the next where a network runs
  /// its layers as a chain (`BlockedFeatureMap`: ResNet and MobileNetV2 in inference), converted at each layer
  /// elsewhere. The default.
  case chained
  /// The layouts oneDNN chooses, converted to and from NCHW at every layer (for comparison).
  case layer
  /// NCHW / OIHW throughout, which oneDNN 2.6 serves with its slower im2col + GEMM implementation (for comparison).
  case plain

  static let variable = "GLIP_ONEDNN_LAYOUT"

  /// From the environment; an unknown value means `chained` (the CLI refuses it before any kernel runs).
  public static let current: OneDNNLayoutChoice = {
    let value = ProcessInfo.processInfo.environment[variable]?.lowercased() ?? ""
    return OneDNNLayoutChoice(rawValue: value) ?? .chained
  }()

  /// Why the environment's value is not a layout choice, or nil when it is one or unset.
  public static func problem(in environment: [String: String]) -> String? {
    guard let value = environment[variable], !value.isEmpty, OneDNNLayoutChoice(rawValue: value.lowercased()) == nil
    else { return nil }
    return "\(variable)=\(value): expected \(allCases.map(\.rawValue).joined(separator: ", "))"
  }
}
