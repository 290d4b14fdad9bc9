import Experiments
import Foundation

/// The report's transfer section: GLIP's data-efficiency charts (the metric against zero-shot, k-shot and full
/// training data, one line per tuning mode; dashed without fusion), per task and averaged, the table behind each chart
/// with the spread over seeds, and the parameters each task stores per mode.
enum TransferSection {
  static func render(_ summary: TransferSummary) -> String {
    var html: [String] = []
    html.append(chart(summary, task: nil, title: "Averaged over \(summary.tasks.count) task(s)"))
    html.append(table(summary, task: nil))
    for task in summary.tasks {
      html.append(chart(summary, task: task, title: task))
      html.append(table(summary, task: task))
    }
    html.append(
      "<p class=\"caption\">\(HTML.escape(summary.metric)) on each task's validation set against the task data the "
        + "run trained on: zero-shot is the pre-trained model with the task's category names as the prompt, k-shot "
        + "a split with k images per category, full the whole training set. Mean ± sample standard deviation over "
        + "seeds (n); the average is the mean over tasks of each task's mean and spread. Dashed lines: no fusion.</p>")
    html.append(storedParameters(summary))
    html.append(gaps(summary))
    return html.joined(separator: "\n")
  }

  static func chart(_ summary: TransferSummary, task: String?, title: String) -> String {
    let positions = Dictionary(uniqueKeysWithValues: summary.amounts.enumerated().map { ($1, Double($0)) })
    let modes = summary.lines.map(\.mode).reduce(into: [String]()) { if !$0.contains($1) { $0.append($1) } }
    let series = summary.lines.map { line in
      SVGChart.Series(
        name: line.description, color: SVGChart.color(modes.firstIndex(of: line.mode)!),
        points: summary.amounts.compactMap { amount in
          summary.statistic(task: task, line: line, amount: amount).map { (positions[amount]!, $0.mean) }
        },
        dash: line.fused ? nil : "6 4")
    }
    return SVGChart.lines(
      series, xLabel: "task data", yLabel: summary.metric, title: title,
      xTicks: summary.amounts.map { (positions[$0]!, $0.description) })
  }

  static func table(_ summary: TransferSummary, task: String?) -> String {
    var rows = [
      "<table><tr><th class=\"text\">\(HTML.escape(task ?? "average"))</th>"
        + summary.amounts.map { "<th>\(HTML.escape($0.description))</th>" }.joined() + "</tr>"
    ]
    for line in summary.lines {
      let cells = summary.amounts.map { amount -> String in
        guard let value = summary.statistic(task: task, line: line, amount: amount) else { return "<td>–</td>" }
        let spread = value.count > 1 ? " ± \(format(value.std)) (\(value.count))" : ""
        return "<td>\(format(value.mean))\(spread)</td>"
      }
      rows.append("<tr><td class=\"text\">\(HTML.escape(line.description))</td>" + cells.joined() + "</tr>")
    }
    return rows.joined(separator: "\n") + "</table>"
  }

  static func storedParameters(_ summary: TransferSummary) -> String {
    var rows = [
      "<table><tr><th class=\"text\">mode</th><th>stored per task</th><th>whole model</th><th>share</th></tr>"
    ]
    for line in summary.lines {
      guard let stored = summary.storedParameters[line], let total = summary.totalParameters[line], total > 0 else {
        continue
      }
      rows.append(
        "<tr><td class=\"text\">\(HTML.escape(line.description))</td><td>\(stored)</td><td>\(total)</td>"
          + "<td>\(String(format: "%.4f%%", 100 * Double(stored) / Double(total)))</td></tr>")
    }
    return "<h3>Parameters stored per task</h3>\n" + rows.joined(separator: "\n") + "</table>"
      + "<p class=\"caption\">The trainable parameters of each mode's trained runs: what a task keeps besides the "
      + "one shared pre-trained model (prompt tuning: the prompt offset; linear probing: the box and centerness "
      + "branches; full fine-tuning: every trainable parameter).</p>"
  }

  static func gaps(_ summary: TransferSummary) -> String {
    let lines = [true, false].compactMap { fused -> String? in
      guard let gap = summary.gapToFullFineTuning(mode: "prompt_tuning", fused: fused) else { return nil }
      return "<li>\(fused ? "with deep fusion" : "without fusion"): prompt tuning is \(format(gap.gap)) "
        + "\(HTML.escape(summary.metric)) below full fine-tuning (mean over \(gap.points) task × amount points)</li>"
    }
    guard !lines.isEmpty else { return "" }
    return "<h3>Prompt tuning against full fine-tuning</h3>\n<ul>" + lines.joined() + "</ul>"
  }

  static func format(_ value: Double) -> String { String(format: "%.3f", value) }
}
