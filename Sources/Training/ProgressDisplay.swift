import Foundation

/// Shows a training run's progress: on a terminal, one bar redrawn in place (step, loss, learning rate, it/s, ETA);
/// otherwise plain lines every `log_every` steps, for log files. Evaluations and checkpoints get lines of their own.
public final class ProgressDisplay {
  public let isTerminal: Bool
  public let logEvery: Int
  private let write: (String) -> Void
  private var lastDraw = Date.distantPast
  private var barShown = false
  private var lastReport: Trainer.StepReport?

  /// `isTerminal` defaults to whether standard output is a terminal; `write` gets text without added newlines.
  public init(
    logEvery: Int, isTerminal: Bool = isatty(STDOUT_FILENO) != 0,
    write: @escaping (String) -> Void = { text in
      print(text, terminator: "")
      fflush(stdout)
    }
  ) {
    self.logEvery = max(logEvery, 1)
    self.isTerminal = isTerminal
    self.write = write
  }

  public func handle(_ event: Trainer.Event) {
    switch event {
    case .step(let report):
      lastReport = report
      if isTerminal {
        // Redrawing every step would flood a slow terminal; ten times a second is plenty.
        let now = Date()
        if now.timeIntervalSince(lastDraw) >= 0.1 || report.step == report.total {
          lastDraw = now
          write("\r\u{1B}[2K" + ProgressDisplay.bar(report))
          barShown = true
        }
      } else if (report.step - 1) % logEvery == 0 || report.step == report.total {
        write(Trainer.line(report) + "\n")
      }
    case .evaluated(let step, let metrics, let isBest):
      message(Trainer.line(evaluation: metrics, step: step, isBest: isBest))
    case .checkpoint(let path):
      if path.hasSuffix("/final.safetensors") { return }
      message("wrote \(path)")
    }
  }

  /// Prints a line without breaking the bar, which is redrawn below it.
  public func message(_ text: String) {
    if isTerminal && barShown {
      write("\r\u{1B}[2K" + text + "\n" + (lastReport.map { ProgressDisplay.bar($0) } ?? ""))
    } else {
      write(text + "\n")
    }
  }

  /// Ends the bar's line.
  public func finish() {
    if isTerminal && barShown { write("\n") }
    barShown = false
  }

  /// `step 120/400 [#######.............]  30%  loss 0.4321  lr 1.00e-03  3.10 it/s  ETA 1m30s`
  public static func bar(_ report: Trainer.StepReport, width: Int = 24) -> String {
    let fraction = report.total > 0 ? min(1, Double(report.step) / Double(report.total)) : 1
    let filled = Int((fraction * Double(width)).rounded(.down))
    let bar = String(repeating: "#", count: filled) + String(repeating: ".", count: width - filled)
    return String(
      format: "step %d/%d [%@] %3d%%  loss %.4f  lr %.2e  %.2f it/s  ETA %@", report.step, report.total, bar,
      Int(fraction * 100), report.loss, report.learningRate, report.stepsPerSecond,
      Trainer.duration(report.secondsLeft))
  }
}
