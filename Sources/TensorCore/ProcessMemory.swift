import Foundation

/// Resident memory of this process, for benchmarks and memory checks.
public enum ProcessMemory {
  /// The peak resident set size of this process, in bytes.
  ///
  /// On Linux this is `VmHWM` from `/proc/self/status`. `getrusage`'s `ru_maxrss` is not used there: it is carried
  /// over from the parent across `fork`/`exec`, so a benchmark started from a large process would report the parent's
  /// size. Elsewhere `ru_maxrss` is all there is.
  public static var peakResidentBytes: Int? {
    #if os(Linux)
      return statusField("VmHWM")
    #else
      var usage = rusage()
      guard getrusage(RUSAGE_SELF, &usage) == 0 else { return nil }
      return Int(usage.ru_maxrss)
    #endif
  }

  /// The current resident set size, in bytes (`VmRSS` on Linux; nil where it cannot be read).
  public static var residentBytes: Int? {
    #if os(Linux)
      return statusField("VmRSS")
    #else
      return nil
    #endif
  }

  /// A `Name:   1234 kB` line of `/proc/self/status`, in bytes.
  private static func statusField(_ name: String) -> Int? {
    guard let status = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8) else { return nil }
    for line in status.split(separator: "\n") where line.hasPrefix(name + ":") {
      let fields = line.dropFirst(name.count + 1).split(whereSeparator: { $0 == " " || $0 == "\t" })
      guard fields.count == 2, fields[1] == "kB", let kilobytes = Int(fields[0]) else { return nil }
      return kilobytes * 1024
    }
    return nil
  }
}
