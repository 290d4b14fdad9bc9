import Foundation

/// Progress over a known number of items (images predicted or evaluated) on standard error: on a terminal one bar
/// redrawn in place with the rate and ETA; otherwise a line every `every` items and at the end, for log files.
public final class ItemProgress {
  public let total: Int
  public let label: String
  public let isTerminal: Bool
  public let every: Int
  private let start = Date()
  private var lastDraw = Date.distantPast
  private let write: (String) -> Void

  public init(
    total: Int, label: String, every: Int = 16, isTerminal: Bool = isatty(STDERR_FILENO) != 0,
    write: @escaping (String) -> Void = { FileHandle.standardError.write(Data($0.utf8)) }
  ) {
    self.total = total
    self.label = label
    self.every = max(every, 1)
    self.isTerminal = isTerminal
    self.write = write
  }

  /// Reports that `done` of `total` items are finished.
  public func update(_ done: Int) {
    if isTerminal {
      let now = Date()
      guard now.timeIntervalSince(lastDraw) >= 0.1 || done == total else { return }
      lastDraw = now
      write("\r\u{1B}[2K" + line(done) + (done == total ? "\n" : ""))
    } else if done % every == 0 || done == total {
      write(line(done) + "\n")
    }
  }

  /// `label 12/500  0.84 s/item  ETA 6m 50s`.
  func line(_ done: Int) -> String {
    let elapsed = Date().timeIntervalSince(start)
    let perItem = done > 0 ? elapsed / Double(done) : 0
    let remaining = perItem * Double(total - done)
    let eta = done < total && done > 0 ? "  ETA " + ItemProgress.duration(remaining) : ""
    return "\(label) \(done)/\(total)  " + String(format: "%.2f s/image", perItem) + eta
  }

  /// `1h 02m`, `6m 50s` or `12s`.
  static func duration(_ seconds: Double) -> String {
    let whole = Int(seconds.rounded())
    if whole >= 3600 { return String(format: "%dh %02dm", whole / 3600, whole % 3600 / 60) }
    if whole >= 60 { return String(format: "%dm %02ds", whole / 60, whole % 60) }
    return "\(whole)s"
  }
}
