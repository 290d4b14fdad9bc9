import Foundation

/// Inline SVG charts (no scripts, no external references), sized in CSS pixels.
public enum SVGChart {
  /// One polyline of a line chart.
  public struct Series {
    public var name: String
    public var color: String
    public var points: [(x: Double, y: Double)]
    /// An SVG `stroke-dasharray`, or nil for a solid line.
    public var dash: String?

    public init(name: String, color: String, points: [(x: Double, y: Double)], dash: String? = nil) {
      self.name = name
      self.color = color
      self.points = points
      self.dash = dash
    }
  }

  /// Distinct colours for series, by index.
  public static let palette = [
    "#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#17becf", "#bcbd22", "#7f7f7f",
  ]

  public static func color(_ index: Int) -> String { palette[index % palette.count] }

  /// About `count` round tick values covering `low...high` (1, 2 or 5 times a power of ten apart).
  public static func ticks(_ low: Double, _ high: Double, count: Int = 5) -> [Double] {
    guard high > low, low.isFinite, high.isFinite else { return [low] }
    let rough = (high - low) / Double(max(count, 1))
    let magnitude = pow(10, floor(log10(rough)))
    let step = [1.0, 2, 5, 10].map { $0 * magnitude }.first { $0 >= rough } ?? 10 * magnitude
    var values: [Double] = []
    var value = ceil(low / step - 1e-9) * step
    while value <= high + step * 1e-9 {
      values.append(abs(value) < step * 1e-9 ? 0 : value)
      value += step
    }
    return values
  }

  static func label(_ value: Double) -> String {
    if value == 0 { return "0" }
    let magnitude = abs(value)
    if magnitude >= 1e4 || magnitude < 1e-3 { return String(format: "%.0e", value) }
    if magnitude >= 100 { return String(format: "%.0f", value) }
    return String(format: "%g", (value * 1e4).rounded() / 1e4)
  }

  static func number(_ value: Double) -> String { String(format: "%.1f", value) }

  /// A line chart with axes, ticks, labels and a legend below the plot.
  /// A line chart; `xTicks` labels chosen x positions (an ordinal axis), instead of round numbers.
  public static func lines(
    _ series: [Series], width: Int = 720, height: Int = 300, xLabel: String, yLabel: String, title: String,
    xTicks: [(x: Double, label: String)]? = nil
  ) -> String {
    let all = series.flatMap(\.points).filter { $0.x.isFinite && $0.y.isFinite }
    let legendRows = (series.count + 2) / 3
    let (left, right, top, bottom) = (64.0, 16.0, 28.0, 44.0 + 18.0 * Double(legendRows))
    let plotWidth = Double(width) - left - right, plotHeight = Double(height) - top - bottom
    var svg = [
      "<svg class=\"chart\" width=\"\(width)\" height=\"\(height)\" viewBox=\"0 0 \(width) \(height)\" role=\"img\">",
      "<title>\(HTML.escape(title))</title>",
      "<rect x=\"0\" y=\"0\" width=\"\(width)\" height=\"\(height)\" fill=\"#ffffff\"/>",
      "<text x=\"\(number(left))\" y=\"18\" font-size=\"13\" font-weight=\"bold\">\(HTML.escape(title))</text>",
    ]
    guard !all.isEmpty else {
      svg.append("<text x=\"\(number(left))\" y=\"\(number(top + 20))\" font-size=\"12\">no data</text></svg>")
      return svg.joined(separator: "\n")
    }
    var (xLow, xHigh) = (all.map(\.x).min()!, all.map(\.x).max()!)
    var (yLow, yHigh) = (all.map(\.y).min()!, all.map(\.y).max()!)
    if xHigh <= xLow { (xLow, xHigh) = (xLow - 1, xHigh + 1) }
    if yHigh <= yLow { (yLow, yHigh) = (yLow - abs(yLow) * 0.1 - 1e-6, yHigh + abs(yHigh) * 0.1 + 1e-6) }
    let pad = (yHigh - yLow) * 0.05
    (yLow, yHigh) = (yLow - pad, yHigh + pad)
    func px(_ x: Double) -> Double { left + (x - xLow) / (xHigh - xLow) * plotWidth }
    func py(_ y: Double) -> Double { top + (1 - (y - yLow) / (yHigh - yLow)) * plotHeight }
    svg.append(
      "<rect x=\"\(number(left))\" y=\"\(number(top))\" width=\"\(number(plotWidth))\" height=\"\(number(plotHeight))\" "
        + "fill=\"#fafafa\" stroke=\"#999999\"/>")
    for tick in ticks(yLow, yHigh) {
      let y = number(py(tick))
      svg.append(
        "<line x1=\"\(number(left))\" y1=\"\(y)\" x2=\"\(number(left + plotWidth))\" y2=\"\(y)\" stroke=\"#e4e4e4\"/>")
      svg.append(
        "<text x=\"\(number(left - 6))\" y=\"\(y)\" font-size=\"11\" text-anchor=\"end\" dominant-baseline=\"middle\">"
          + "\(label(tick))</text>")
    }
    for (tick, text) in xTicks ?? ticks(xLow, xHigh, count: 6).map({ ($0, label($0)) }) {
      let x = number(px(tick))
      svg.append(
        "<line x1=\"\(x)\" y1=\"\(number(top + plotHeight))\" x2=\"\(x)\" y2=\"\(number(top + plotHeight + 4))\" "
          + "stroke=\"#999999\"/>")
      svg.append(
        "<text x=\"\(x)\" y=\"\(number(top + plotHeight + 16))\" font-size=\"11\" text-anchor=\"middle\">"
          + "\(HTML.escape(text))</text>")
    }
    svg.append(
      "<text x=\"\(number(left + plotWidth / 2))\" y=\"\(number(top + plotHeight + 32))\" font-size=\"12\" "
        + "text-anchor=\"middle\">\(HTML.escape(xLabel))</text>")
    svg.append(
      "<text x=\"14\" y=\"\(number(top + plotHeight / 2))\" font-size=\"12\" text-anchor=\"middle\" "
        + "transform=\"rotate(-90 14 \(number(top + plotHeight / 2)))\">\(HTML.escape(yLabel))</text>")
    for item in series {
      let points = item.points.filter { $0.x.isFinite && $0.y.isFinite }
        .map { "\(number(px($0.x))),\(number(py($0.y)))" }.joined(separator: " ")
      let dash = item.dash.map { " stroke-dasharray=\"\($0)\"" } ?? ""
      svg.append(
        "<polyline points=\"\(points)\" fill=\"none\" stroke=\"\(item.color)\" stroke-width=\"2\"\(dash)>"
          + "<title>\(HTML.escape(item.name))</title></polyline>")
    }
    for (index, item) in series.enumerated() {
      let x = left + Double(index % 3) * plotWidth / 3
      let y = top + plotHeight + 46 + Double(index / 3) * 18
      let dash = item.dash.map { " stroke-dasharray=\"\($0)\"" } ?? ""
      svg.append(
        "<line x1=\"\(number(x))\" y1=\"\(number(y - 4))\" x2=\"\(number(x + 22))\" y2=\"\(number(y - 4))\" "
          + "stroke=\"\(item.color)\" stroke-width=\"3\"\(dash)/>")
      svg.append(
        "<text x=\"\(number(x + 28))\" y=\"\(number(y))\" font-size=\"11\">\(HTML.escape(item.name))</text>")
    }
    svg.append("</svg>")
    return svg.joined(separator: "\n")
  }

  /// One horizontal bar of stacked segments.
  public struct Bar {
    public var label: String
    public var segments: [(name: String, value: Double)]
    public init(label: String, segments: [(name: String, value: Double)]) {
      self.label = label
      self.segments = segments
    }
  }

  /// Horizontal stacked bars on a shared scale, segment colours by name (`colors`), with a legend.
  public static func stackedBars(
    _ bars: [Bar], colors: [String: String], width: Int = 720, title: String, unit: String
  ) -> String {
    let names = bars.flatMap { $0.segments.map(\.name) }.reduce(into: [String]()) {
      if !$0.contains($1) { $0.append($1) }
    }
    let (left, right, top) = (200.0, 90.0, 28.0)
    let rowHeight = 22.0
    let height = Int(top + rowHeight * Double(bars.count) + 40)
    let plotWidth = Double(width) - left - right
    let maximum = max(bars.map { $0.segments.map(\.value).reduce(0, +) }.max() ?? 1, 1)
    var svg = [
      "<svg class=\"chart\" width=\"\(width)\" height=\"\(height)\" viewBox=\"0 0 \(width) \(height)\" role=\"img\">",
      "<title>\(HTML.escape(title))</title>",
      "<rect x=\"0\" y=\"0\" width=\"\(width)\" height=\"\(height)\" fill=\"#ffffff\"/>",
      "<text x=\"8\" y=\"18\" font-size=\"13\" font-weight=\"bold\">\(HTML.escape(title))</text>",
    ]
    for (row, bar) in bars.enumerated() {
      let y = top + Double(row) * rowHeight
      svg.append(
        "<text x=\"\(number(left - 8))\" y=\"\(number(y + rowHeight / 2))\" font-size=\"11\" text-anchor=\"end\" "
          + "dominant-baseline=\"middle\">\(HTML.escape(bar.label))</text>")
      var x = left
      for segment in bar.segments where segment.value > 0 {
        let w = segment.value / maximum * plotWidth
        svg.append(
          "<rect x=\"\(number(x))\" y=\"\(number(y + 3))\" width=\"\(number(max(w, 0.5)))\" "
            + "height=\"\(number(rowHeight - 6))\" fill=\"\(colors[segment.name] ?? "#888888")\">"
            + "<title>\(HTML.escape("\(bar.label) \(segment.name): \(Int(segment.value)) \(unit)"))</title></rect>")
        x += w
      }
      let total = bar.segments.map(\.value).reduce(0, +)
      svg.append(
        "<text x=\"\(number(x + 6))\" y=\"\(number(y + rowHeight / 2))\" font-size=\"11\" dominant-baseline=\"middle\">"
          + "\(HTML.escape(HTML.compact(total)))</text>")
    }
    for (index, name) in names.enumerated() {
      let x = left + Double(index) * 120, y = top + rowHeight * Double(bars.count) + 24
      svg.append(
        "<rect x=\"\(number(x))\" y=\"\(number(y - 10))\" width=\"12\" height=\"12\" "
          + "fill=\"\(colors[name] ?? "#888888")\"/>")
      svg.append("<text x=\"\(number(x + 18))\" y=\"\(number(y))\" font-size=\"11\">\(HTML.escape(name))</text>")
    }
    svg.append("</svg>")
    return svg.joined(separator: "\n")
  }
}

/// HTML text helpers.
public enum HTML {
  public static func escape(_ text: String) -> String {
    var result = ""
    result.reserveCapacity(text.count)
    for character in text {
      switch character {
      case "&": result += "&amp;"
      case "<": result += "&lt;"
      case ">": result += "&gt;"
      case "\"": result += "&quot;"
      case "'": result += "&#39;"
      default: result.append(character)
      }
    }
    return result
  }

  /// 1234567 → "1.23M", 12345 → "12.3k".
  public static func compact(_ value: Double) -> String {
    switch abs(value) {
    case 1e6...: return String(format: "%.2fM", value / 1e6)
    case 1e3...: return String(format: "%.1fk", value / 1e3)
    default: return String(format: "%.0f", value)
    }
  }
}
