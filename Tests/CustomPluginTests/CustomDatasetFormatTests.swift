import Config
import Datasets
import Experiments
import Foundation
import Language
import Training
import XCTest

/// A dataset format defined outside the toolkit: one tab-separated line per box, `image<TAB>phrase<TAB>x1,y1,x2,y2`,
/// each image prompted with its phrase alone.
struct BoxListFormat: DatasetFormat {
  var name: String { "box_list" }
  var summary: String { "tab-separated image, phrase and box per line" }
  var primaryMetric: String { "R@1" }

  func loadRecords(_ source: DataSource) throws -> (records: [GroundingRecord], skipped: Int) {
    let text = try String(contentsOfFile: source.annotations, encoding: .utf8)
    let records = try text.split(separator: "\n").enumerated().map { index, line in
      let fields = line.split(separator: "\t").map(String.init)
      let box = fields.count == 3 ? fields[2].split(separator: ",").compactMap { Float($0) } : []
      guard box.count == 4 else { throw TrainingError(message: "\(source.annotations):\(index + 1): bad line") }
      return GroundingRecord(
        imagePath: source.images + "/" + fields[0], width: 64, height: 64, caption: fields[1], boxes: [box],
        spans: [[0..<fields[1].unicodeScalars.count]])
    }
    return (records, 0)
  }

  func evaluate(predictor: Predictor, source: DataSource, progress: (Int, Int) -> Void) throws -> FormatEvaluation {
    let recall = GroundingRecall.recall(
      try GroundingRecall.phraseResults(predictor: predictor, records: try loadRecords(source).records))
    return FormatEvaluation(metrics: [("R@1", recall[1]!)])
  }

  func samples(_ source: DataSource, count: Int) throws -> [(record: GroundingRecord, prompt: Prompt)] {
    try loadRecords(source).records.prefix(count).map { ($0, GroundingRecall.phrases(of: $0).prompt) }
  }
}

final class CustomDatasetFormatTests: XCTestCase {
  override class func setUp() {
    Builtins.registerAll()
    try? DatasetFormats.register(BoxListFormat())
  }

  private func config(format: String, annotations: String) throws -> LoadedConfig {
    try LoadedConfig(
      text: """
        model:
          backbone: {type: tiny_cnn, channels: [8, 16, 16, 16]}
          neck: {type: none}
          text_encoder: {type: class_embedding, classes: 3, hidden: 16}
          head: {type: fcos, channels: 16, blocks: 1}
        data:
          train: {format: \(format), annotations: \(annotations), images: photos}
        """, displayPath: "custom.yaml")
  }

  func testARegisteredFormatLoadsThroughTheConfig() throws {
    let file = FileManager.default.temporaryDirectory.appendingPathComponent("boxes-\(UUID().uuidString).tsv")
    defer { try? FileManager.default.removeItem(at: file) }
    try "a.png\tred circle\t1,2,30,40\nb.png\tblue star\t5,5,20,20\n".write(to: file, atomically: true, encoding: .utf8)
    let experiment = try CheckedExperiment(try config(format: "box_list", annotations: file.path))
    let (records, skipped) = try DatasetFormats.loadRecords(experiment.data.trainSources)
    XCTAssertEqual(skipped, 0)
    XCTAssertEqual(records.map(\.caption), ["red circle", "blue star"])
    XCTAssertEqual(records[0].boxes, [[1, 2, 30, 40]])
    XCTAssertEqual(records[1].imagePath, "photos/b.png")
    XCTAssertTrue(ConfigDocumentation.markdown().contains("| `box_list` | R@1 |"))
  }

  func testAnUnknownFormatIsAnErrorAtItsKeyWithASuggestion() throws {
    XCTAssertThrowsError(try CheckedExperiment(try config(format: "box_lst", annotations: "x.tsv"))) { error in
      XCTAssertTrue("\(error)".contains("custom.yaml:7:19"), "\(error)")
      XCTAssertTrue(
        "\(error)".contains("data.train.format: unknown dataset format 'box_lst'; did you mean 'box_list'?"), "\(error)"
      )
    }
  }
}
