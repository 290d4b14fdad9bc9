import Config
import Experiments
import Foundation

/// Renders a self-contained `report.html`: inline CSS and SVG, images as `data:` URIs, no scripts and no references
/// to anything outside the file.
public enum HTMLReport {
  public static func render(_ data: ReportData, predictions: PredictionGrid?, notes extraNotes: [String] = []) -> String
  {
    let title = data.kind == .ablation ? "Ablation report" : "Run report"
    var body: [String] = [
      "<h1>\(title)</h1>",
      "<p class=\"meta\">\(HTML.escape(data.path)) · \(data.variants.count) variant(s), \(data.runs.count) run(s) · "
        + "generated \(HTML.escape(ISO8601DateFormatter().string(from: Date())))</p>",
    ]
    let notes = data.notes + extraNotes
    if !notes.isEmpty {
      body.append("<div class=\"notes\">" + notes.map { "<p>\(HTML.escape($0))</p>" }.joined() + "</div>")
    }
    body.append("<h2>Results</h2>")
    body.append(metricTable(data))
    if let transfer = TransferSummary.of(data.runs) {
      body.append("<h2>Transfer</h2>")
      body.append(TransferSection.render(transfer))
    }
    body.append("<h2>Training</h2>")
    body.append(lossCharts(data))
    body.append("<h2>Parameters per slot</h2>")
    body.append(parameterSection(data))
    body.append("<h2>Config differences</h2>")
    body.append(configDiff(data))
    body.append("<h2>Predictions</h2>")
    body.append(predictions.map(predictionGrid) ?? "<p>No predictions (see the notes above).</p>")
    body.append("<h2>Resolved configs</h2>")
    for run in data.representatives {
      body.append(
        "<details><summary>\(HTML.escape(run.result.variant)) (\(HTML.escape(run.directory))/config.yaml)</summary>"
          + "<pre>\(HTML.escape(run.configText))</pre></details>")
    }
    return """
      <!DOCTYPE html>
      <html lang="en">
      <head>
      <meta charset="utf-8">
      <title>\(title): \(HTML.escape(data.path))</title>
      <style>
      \(style)
      </style>
      </head>
      <body>
      \(body.joined(separator: "\n"))
      </body>
      </html>

      """
  }

  static let style = """
    body { font-family: sans-serif; margin: 24px; color: #222222; background: #ffffff; max-width: 1400px; }
    h1 { font-size: 24px; margin-bottom: 4px; }
    h2 { font-size: 18px; margin-top: 32px; border-bottom: 1px solid #dddddd; padding-bottom: 4px; }
    .meta { color: #666666; margin-top: 0; }
    .notes { background: #fff4d6; border: 1px solid #e8c860; padding: 4px 12px; }
    table { border-collapse: collapse; font-size: 13px; margin: 8px 0; }
    th, td { border: 1px solid #cccccc; padding: 4px 8px; text-align: right; vertical-align: top; white-space: nowrap; }
    td.text { white-space: normal; max-width: 320px; }
    th { background: #f0f0f0; }
    td.text, th.text { text-align: left; }
    td.best { background: #c8efc8; font-weight: bold; }
    .chart { display: block; margin: 8px 0; }
    .caption { color: #555555; font-size: 12px; }
    .grid td { text-align: center; }
    .grid img { width: 240px; image-rendering: pixelated; display: block; }
    .prompt { font-size: 11px; color: #555555; max-width: 240px; text-align: left; }
    pre { background: #f6f6f6; padding: 8px; font-size: 12px; overflow-x: auto; }
    """

  static func metricTable(_ data: ReportData) -> String {
    let results = data.runs.map(\.result)
    let all = ResultsTable.metricNames(results)
    let metrics = all.filter(ResultsTable.headline.contains)
    let groups = VariantSummary.group(results)
    var html = [summaryTable(groups, data: data, metrics: metrics.isEmpty ? all : metrics)]
    let seeds = groups.map(\.runs.count).max() ?? 1
    html.append(
      "<p class=\"caption\">"
        + (seeds > 1 ? "Mean ± sample standard deviation over seeds. " : "")
        + (all.isEmpty ? "No metrics: the run has not been evaluated. " : "")
        + (all.contains("AP")
          ? "AP… and AR… are COCO bbox metrics (every category name as the prompt; n/a: no ground truth in that "
            + "size range). " : "")
        + (all.contains("R@1") ? "R@k is phrase-grounding recall (each image's caption as the prompt, IoU ≥ 0.5)." : "")
        + (groups.count > 1 ? " The best value of each column is highlighted (none when all are equal)." : "")
        + "</p>")
    if all.count > metrics.count && !metrics.isEmpty {
      html.append(
        "<details><summary>All metrics</summary>" + summaryTable(groups, data: data, metrics: all) + "</details>")
    }
    return html.joined(separator: "\n")
  }

  /// The highlighted best of a column: the largest (or smallest) mean, when not every variant has it.
  static func best(_ values: [Double?], largest: Bool) -> Double? {
    let present = values.compactMap { $0 }.filter { $0 >= 0 }
    guard let best = largest ? present.max() : present.min(), values.count > 1 else { return nil }
    return values.allSatisfy({ $0 == best }) ? nil : best
  }

  static func summaryTable(_ groups: [VariantSummary], data: ReportData, metrics: [String]) -> String {
    var best: [String: Double] = [:]
    for name in metrics {
      best[name] = HTMLReport.best(groups.map { $0.metric(name)?.mean }, largest: true)
    }
    let bestLoss = HTMLReport.best(groups.map { $0.statistics { $0.finalLoss }?.mean }, largest: false)
    var html = [
      "<table>",
      "<tr><th class=\"text\">variant</th><th>seeds</th><th>parameters</th><th>trainable</th>"
        + "<th class=\"text\">initialisation</th><th>train s</th><th>final loss</th>"
        + metrics.map { "<th>\(HTML.escape($0))</th>" }.joined() + "</tr>",
    ]
    for group in groups {
      let first = group.runs[0]
      let timed = data.runs.first { $0.result.variant == group.variant }?.timed ?? false
      let loss = group.statistics { $0.finalLoss }
      let seeds = group.runs.map { "\($0.seed)" }.joined(separator: ", ")
      let seconds = timed ? ResultsTable.meanStd(group.statistics { $0.trainSeconds }, digits: 0) : "-"
      let lossClass = loss != nil && loss!.mean == bestLoss ? " class=\"best\"" : ""
      let cells: [String] = [
        "<tr><td class=\"text\">\(HTML.escape(group.variant))</td>", "<td>\(seeds)</td>",
        "<td>\(first.parameters)</td><td>\(first.trainableParameters)</td>",
        "<td class=\"text\" title=\"\(HTML.escape(first.initialisation))\">",
        "\(HTML.escape(ResultsTable.shortInitialisation(first)))</td>", "<td>\(seconds)</td>",
        "<td\(lossClass)>", "\(ResultsTable.meanStd(loss))</td>",
      ]
      var row = cells.joined()
      for name in metrics {
        let value = group.metric(name)
        let isBest = value != nil && value!.mean == best[name]
        let text = value.map { $0.mean < 0 ? "n/a" : ResultsTable.meanStd($0) } ?? "-"
        row += "<td\(isBest ? " class=\"best\"" : "")>\(HTML.escape(text))</td>"
      }
      html.append(row + "</tr>")
    }
    html.append("</table>")
    return html.joined(separator: "\n")
  }

  /// Moving average over `window` steps.
  static func smoothed(_ values: [(x: Double, y: Double)], window: Int) -> [(x: Double, y: Double)] {
    guard window > 1, values.count > window else { return values }
    var result: [(x: Double, y: Double)] = []
    var sum = 0.0
    for (index, point) in values.enumerated() {
      sum += point.y
      if index >= window { sum -= values[index - window].y }
      let count = min(index + 1, window)
      result.append((point.x, sum / Double(count)))
    }
    return result
  }

  static func lossCharts(_ data: ReportData) -> String {
    let variants = data.variants
    let longest = data.runs.map(\.history.count).max() ?? 0
    let window = max(1, longest / 25)
    let dashes = [nil, "6 3", "2 3", "8 3 2 3"]
    var loss: [SVGChart.Series] = []
    for run in data.runs {
      let index = variants.firstIndex(of: run.result.variant) ?? 0
      let seedIndex =
        data.runs.filter { $0.result.variant == run.result.variant }.firstIndex {
          $0.directory == run.directory
        } ?? 0
      loss.append(
        SVGChart.Series(
          name: "\(run.result.variant) (seed \(run.result.seed))", color: SVGChart.color(index),
          points: smoothed(run.history.map { (Double($0.step), Double($0.loss)) }, window: window),
          dash: dashes[seedIndex % dashes.count]))
    }
    var lr: [SVGChart.Series] = []
    var seen: [[Float]] = []
    for run in data.representatives {
      let values = run.history.map(\.learningRate)
      if seen.contains(values) { continue }
      seen.append(values)
      lr.append(
        SVGChart.Series(
          name: seen.count == 1 && data.representatives.count > 1
            ? "lr (\(run.result.variant); others identical)"
            : "lr (\(run.result.variant))",
          color: SVGChart.color(variants.firstIndex(of: run.result.variant) ?? 0),
          points: run.history.map { (Double($0.step), Double($0.learningRate)) }))
    }
    if lr.count == 1 && data.representatives.count > 1 { lr[0].name = "lr (all variants)" }
    return [
      SVGChart.lines(
        loss, height: 340, xLabel: "step", yLabel: "training loss", title: "Training loss per variant"),
      "<p class=\"caption\">Total training loss"
        + (window > 1 ? ", moving average over \(window) steps" : "")
        + ". Colour: variant; line style: seed.</p>",
      SVGChart.lines(lr, height: 220, xLabel: "step", yLabel: "learning rate", title: "Learning rate"),
    ].joined(separator: "\n")
  }

  static let slotColors = [
    "backbone": "#4e79a7", "neck": "#f28e2b", "text_encoder": "#59a14f", "fusion": "#e15759", "head": "#b07aa1",
  ]

  static func parameterSection(_ data: ReportData) -> String {
    let runs = data.representatives.filter { !$0.result.slots.isEmpty }
    guard !runs.isEmpty else { return "<p>No parameter counts (the model could not be assembled).</p>" }
    let slotNames = ["backbone", "neck", "text_encoder", "fusion", "head"].filter { name in
      runs.contains { $0.result.slots.contains { $0.name == name } }
    }
    var html = [
      "<table>",
      "<tr><th class=\"text\">variant</th>"
        + slotNames.map { "<th>\(HTML.escape($0))<br>total / trainable</th>" }.joined()
        + "<th>total / trainable</th></tr>",
    ]
    for run in runs {
      var row = "<tr><td class=\"text\">\(HTML.escape(run.result.variant))</td>"
      for name in slotNames {
        if let slot = run.result.slots.first(where: { $0.name == name }) {
          row += "<td>\(HTML.escape(slot.type))<br>\(slot.parameters) / \(slot.trainable)</td>"
        } else {
          row += "<td>-</td>"
        }
      }
      html.append(row + "<td>\(run.result.parameters) / \(run.result.trainableParameters)</td></tr>")
    }
    html.append("</table>")
    var bars: [SVGChart.Bar] = []
    for run in runs {
      bars.append(
        SVGChart.Bar(
          label: "\(run.result.variant) total",
          segments: run.result.slots.map { ($0.name, Double($0.parameters)) }))
      bars.append(
        SVGChart.Bar(
          label: "\(run.result.variant) trainable",
          segments: run.result.slots.map { ($0.name, Double($0.trainable)) }))
    }
    html.append(
      SVGChart.stackedBars(bars, colors: slotColors, width: 820, title: "Parameters per slot", unit: "parameters"))
    return html.joined(separator: "\n")
  }

  /// Keys whose resolved values differ between variants (the first seed of each); seeds are left out.
  public static func differences(_ data: ReportData) -> [(key: String, values: [String?])] {
    let runs = data.representatives
    let leaves = runs.map { run in
      Dictionary(ConfigText.leaves(run.config).map { ($0.key, $0.value) }, uniquingKeysWith: { $1 })
    }
    var keys: [String] = []
    for run in runs {
      for leaf in ConfigText.leaves(run.config) where !keys.contains(leaf.key) { keys.append(leaf.key) }
    }
    return keys.filter { !["model.seed", "train.seed"].contains($0) }.compactMap { key in
      let values = leaves.map { $0[key] }
      return Set(values.map { $0 ?? "\u{0}" }).count > 1 ? (key, values) : nil
    }
  }

  static func configDiff(_ data: ReportData) -> String {
    let runs = data.representatives
    guard runs.count > 1 else { return "<p>One variant: nothing to compare. Its config is listed at the end.</p>" }
    let rows = differences(data)
    guard !rows.isEmpty else { return "<p>The variants' resolved configs are identical (apart from seeds).</p>" }
    var html = [
      "<table>",
      "<tr><th class=\"text\">key</th>"
        + runs.map { "<th class=\"text\">\(HTML.escape($0.result.variant))</th>" }.joined() + "</tr>",
    ]
    for row in rows {
      html.append(
        "<tr><td class=\"text\"><code>\(HTML.escape(row.key))</code></td>"
          + row.values.map { "<td class=\"text\">\($0.map(HTML.escape) ?? "<i>absent</i>")</td>" }.joined()
          + "</tr>")
    }
    html.append("</table>")
    html.append(
      "<p class=\"caption\">Every key whose resolved value differs between variants (first seed of each; "
        + "model.seed and train.seed left out).</p>")
    return html.joined(separator: "\n")
  }

  static func predictionGrid(_ grid: PredictionGrid) -> String {
    var html = [
      "<table class=\"grid\">",
      "<tr><th class=\"text\">image</th>" + grid.columns.map { "<th>\(HTML.escape($0))</th>" }.joined() + "</tr>",
    ]
    for row in grid.rows {
      var cells =
        "<tr><td class=\"text\">\(HTML.escape(row.image))<div class=\"prompt\">prompt: "
        + "\(HTML.escape(row.prompt))</div></td>"
      for (index, png) in row.cells.enumerated() {
        let alt = "\(row.image), \(grid.columns[index])"
        cells +=
          "<td><img alt=\"\(HTML.escape(alt))\" src=\"data:image/png;base64,\(png.base64EncodedString())\"></td>"
      }
      html.append(cells + "</tr>")
    }
    html.append("</table>")
    html.append(
      "<p class=\"caption\">Boxes scoring at least \(String(format: "%.2f", grid.threshold)), at most "
        + "\(grid.maxBoxes) per image, coloured by phrase; each model is the first seed of its variant.</p>")
    return html.joined(separator: "\n")
  }
}
