import Foundation

/// OpenBLAS's kernel, corrected where its CPU table is older than the CPU.
///
/// A DYNAMIC_ARCH OpenBLAS picks its kernel from the CPU's family and model. A model newer than its table falls back
/// to Prescott, an SSE3 kernel: Debian's OpenBLAS 0.3.21 does so on Intel's Emerald Rapids (family 6, model 207),
/// where every single-precision product then runs at a fraction of the cores' AVX-512 rate. When the environment
/// leaves `OPENBLAS_CORETYPE` unset and OpenBLAS took a kernel without AVX2 on a CPU that has AVX2 and FMA, the kernel
/// is chosen again from the CPU's instruction-set flags: SkylakeX with AVX-512, Haswell with AVX2 and FMA (SkylakeX's
/// single-precision kernels are also those of Cooperlake and Sapphire Rapids, which OpenBLAS 0.3.21 cannot be asked
/// for by name). A kernel OpenBLAS chose for a CPU it recognised is never replaced, and `OPENBLAS_CORETYPE` always
/// wins.
public enum OpenBLASKernel {
  /// The kernel in use and how it was chosen.
  public struct Selection: Sendable, Equatable {
    /// The kernel OpenBLAS chose by itself, for example "Prescott".
    public let detected: String
    /// The kernel products run on.
    public let active: String
    /// Why `active` differs from `detected`, why a replacement could not be made, or that `OPENBLAS_CORETYPE` chose
    /// (and whether OpenBLAS took the name it gives); nil when OpenBLAS chose by itself and its choice stands.
    public let note: String?

    /// "SkylakeX (OpenBLAS took Prescott for this CPU; chosen from its AVX-512 flags)", or the name alone.
    public var summary: String { note.map { "\(active) (\($0))" } ?? active }
  }

  /// The kernel names OpenBLAS gives its x86 kernels that use AVX2 or AVX-512 (`openblas_get_corename`, lowercased).
  static let vectorKernels: Set<String> = ["haswell", "zen", "skylakex", "cooperlake", "sapphirerapids"]

  /// The kernel to run instead of `detected`, from the CPU's flags (as /proc/cpuinfo spells them), or nil to keep it.
  static func replacement(detected: String, flags: Set<String>) -> (kernel: String, reason: String)? {
    guard !vectorKernels.contains(detected.lowercased()), flags.isSuperset(of: ["avx2", "fma"]) else { return nil }
    if flags.isSuperset(of: ["avx512f", "avx512bw", "avx512vl", "avx512dq", "avx512cd"]) {
      return ("SkylakeX", "its AVX-512 flags")
    }
    return ("Haswell", "its AVX2 and FMA flags")
  }

  /// The flags of the first processor in a /proc/cpuinfo text.
  static func cpuFlags(cpuinfo: String) -> Set<String> {
    for line in cpuinfo.split(separator: "\n") where line.hasPrefix("flags") {
      guard let colon = line.firstIndex(of: ":") else { continue }
      return Set(line[line.index(after: colon)...].split(separator: " ").map(String.init))
    }
    return []
  }

  /// The selection, made once before the first product (see `BLAS.configure`).
  public static let selection: Selection = select()

  private static func select() -> Selection {
    let detected = BLAS.reportedCoreName
    if let requested = ProcessInfo.processInfo.environment["OPENBLAS_CORETYPE"] {
      let outcome = requested.lowercased() == detected.lowercased() ? "set by" : "OpenBLAS's answer to"
      return Selection(detected: detected, active: detected, note: "\(outcome) OPENBLAS_CORETYPE=\(requested)")
    }
    guard let cpuinfo = try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8),
      let (kernel, reason) = replacement(detected: detected, flags: cpuFlags(cpuinfo: cpuinfo))
    else { return Selection(detected: detected, active: detected, note: nil) }
    guard let reinitialise = dynamicInitialisation() else {
      return Selection(
        detected: detected, active: detected,
        note: "this OpenBLAS has no kernel choice at run time; \(kernel) would suit this CPU")
    }
    // OpenBLAS reads OPENBLAS_CORETYPE only while it initialises; the variable is removed again afterwards so that
    // the process's environment, and its children's, stay as the user set them.
    setenv("OPENBLAS_CORETYPE", kernel, 1)
    reinitialise.quit()
    reinitialise.initialise()
    unsetenv("OPENBLAS_CORETYPE")
    let active = BLAS.reportedCoreName
    guard vectorKernels.contains(active.lowercased()) else {
      return Selection(
        detected: detected, active: active, note: "OpenBLAS took \(detected) for this CPU and refused \(kernel)")
    }
    return Selection(
      detected: detected, active: active, note: "OpenBLAS took \(detected) for this CPU; chosen from \(reason)")
  }

  private typealias Entry = @convention(c) () -> Void

  /// OpenBLAS's own start-up and reset of its kernel choice, which a DYNAMIC_ARCH build exports; nil otherwise.
  private static func dynamicInitialisation() -> (quit: Entry, initialise: Entry)? {
    let library = dlopen(nil, RTLD_NOW)
    guard let quit = dlsym(library, "gotoblas_dynamic_quit"), let initialise = dlsym(library, "gotoblas_dynamic_init")
    else { return nil }
    return (unsafeBitCast(quit, to: Entry.self), unsafeBitCast(initialise, to: Entry.self))
  }
}
