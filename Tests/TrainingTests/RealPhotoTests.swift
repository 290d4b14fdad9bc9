import Foundation
import Imaging
import TensorCoreTestSupport
import XCTest

/// Fine-tuning, evaluation and prediction on twelve real photos of different sizes and orientations
/// (Tests/Fixtures/real_photos: hand-drawn boxes on scikit-image's sample photos, 20 categories), through the `glip`
/// executable as a user runs it: a tiny model overfits the photos, its AP on them rises well above the untrained
/// model's, and `glip predict` puts the boxes where `glip eval` scored them, in the original photos' pixels — also for
/// a photo stored rotated with an EXIF orientation. Training starts from a checkpoint (`model.checkpoint`), as
/// fine-tuning does.
///
/// The photos come from `GLIP_SAMPLE_PHOTOS` (a folder written by `scripts/sample-photos.sh DIR`) or the reference
/// venv's scikit-image (`make reference`); without either the test is skipped.
final class RealPhotoTests: XCTestCase {
  static let names = [
    "astronaut.png", "camera.png", "chelsea.png", "coffee.png", "motorcycle_left.png", "rocket.jpg",
    "motorcycle_right.png", "coins.png", "clock_motion.png", "hubble_deep_field.jpg", "retina.jpg", "cell.png",
  ]
  /// AP (IoU 0.50:0.95) on the twelve training photos after `steps` steps; the current code reaches 0.152 (AP50 0.243),
  /// and the untrained model scores 0. The bound is half of that, for margin.
  static let minimumTrainedAP = 0.075
  /// Fine-tuning steps at batch 2: 75 passes over the twelve photos, as 150 steps were over the first six (150 steps
  /// on the twelve reach AP 0.033, 300 reach 0.112).
  static let steps = 450
  /// The mean loss of the last 10 steps is below the first 5 steps' by at least this factor (now 3.1 → 1.9).
  static let lossFactor: Float = 1.25

  private var directory = ""

  override func setUpWithError() throws {
    let source = try RealPhotoTests.photoDirectory()
    directory = NSTemporaryDirectory() + "real-photos-\(getpid())-\(UUID().uuidString)"
    try FileManager.default.createDirectory(atPath: directory + "/photos", withIntermediateDirectories: true)
    for name in RealPhotoTests.names {
      try FileManager.default.copyItem(atPath: source + "/" + name, toPath: directory + "/photos/" + name)
    }
    try FileManager.default.copyItem(
      atPath: Fixtures.path("real_photos/instances.json"), toPath: directory + "/photos/instances.json")
  }

  override func tearDown() { try? FileManager.default.removeItem(atPath: directory) }

  /// Where the twelve photos are: `GLIP_SAMPLE_PHOTOS`, or scikit-image's data folder in the reference venv.
  static func photoDirectory() throws -> String {
    var candidates: [String] = []
    if let given = ProcessInfo.processInfo.environment["GLIP_SAMPLE_PHOTOS"] { candidates.append(given) }
    let lib = Fixtures.repository.appendingPathComponent(".venv-ref/lib").path
    for python in (try? FileManager.default.contentsOfDirectory(atPath: lib)) ?? [] {
      candidates.append("\(lib)/\(python)/site-packages/skimage/data")
    }
    let found = candidates.first { folder in
      names.allSatisfy { FileManager.default.fileExists(atPath: folder + "/" + $0) }
    }
    guard let found else {
      throw XCTSkip("the sample photos are not here: run scripts/sample-photos.sh DIR and set GLIP_SAMPLE_PHOTOS=DIR")
    }
    return found
  }

  /// The `glip` executable built beside this test bundle.
  private func glip() throws -> String {
    let bundle = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
    for folder in [bundle, bundle.deletingLastPathComponent()] {
      let path = folder.appendingPathComponent("glip").path
      if FileManager.default.isExecutableFile(atPath: path) { return path }
    }
    throw XCTSkip("no glip executable beside \(bundle.path) (swift build first)")
  }

  /// Runs glip with `arguments`; its standard output.
  @discardableResult
  private func run(_ arguments: [String]) throws -> String {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: try glip())
    process.arguments = arguments
    process.currentDirectoryURL = URL(fileURLWithPath: directory)
    let output = Pipe(), errors = Pipe()
    process.standardOutput = output
    process.standardError = errors
    try process.run()
    let text = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
    let problems = String(decoding: errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
    process.waitUntilExit()
    guard process.terminationStatus == 0 else {
      throw GlipFailed(arguments: arguments, status: process.terminationStatus, errors: problems)
    }
    return text
  }

  struct GlipFailed: Error, CustomStringConvertible {
    let arguments: [String], status: Int32, errors: String
    var description: String { "glip \(arguments.joined(separator: " ")) exited with \(status):\n\(errors)" }
  }

  private func writeConfig() throws -> String {
    let yaml = """
      model:
        backbone: {type: tiny_cnn, channels: [16, 32, 64, 64]}
        neck: {type: fpn, channels: 32, extra_levels: 0}
        text_encoder: {type: bert, model_dir: "\(Fixtures.path("language/bert-tiny"))", freeze: true}
        fusion: {type: none}
        head: {type: atss, channels: 32, blocks: 1}
      data:
        train: {format: coco, annotations: photos/instances.json, images: photos}
        val: {format: coco, annotations: photos/instances.json, images: photos}
        min_size: [128, 160]
        max_size: 256
        flip: false
      train: {batch_size: 2, iterations: \(RealPhotoTests.steps), lr: 0.005, warmup: 10, log_every: 50}
      """
    try yaml.write(toFile: directory + "/tiny.yaml", atomically: true, encoding: .utf8)
    return "tiny.yaml"
  }

  private func metrics(_ json: String) throws -> [String: Double] {
    try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String: Double], json)
  }

  func testFineTuneEvaluateAndPredictOnRealPhotos() throws {
    let config = try writeConfig()
    // The starting weights as a checkpoint (0 steps), then fine-tuning from it (model.checkpoint) with another
    // initialisation seed, which the checkpoint overrides.
    try run(["train", "--config", config, "--out", "start", "--set", "train.iterations=0"])
    let start = ["--set", "model.checkpoint=start/checkpoints/final.safetensors", "--set", "model.seed=5"]
    let untrained = try metrics(try run(["eval", "--config", config, "--json"] + start))
    try run(["train", "--config", config, "--out", "run"] + start)
    let losses = try String(contentsOfFile: directory + "/run/metrics.jsonl", encoding: .utf8)
      .split(separator: "\n").compactMap { line in
        (try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])?["loss"] as? Double
      }.map(Float.init)
    XCTAssertEqual(losses.count, RealPhotoTests.steps)
    let first = losses.prefix(5).reduce(0, +) / 5, last = losses.suffix(10).reduce(0, +) / 10
    XCTAssertGreaterThan(first / last, RealPhotoTests.lossFactor, "loss from \(first) to \(last)")

    let trained = try metrics(try run(["eval", "--run", "run", "--json", "--save-detections", "detections.json"]))
    print(
      String(
        format: "real photos: AP %.3f untrained, %.3f (AP50 %.3f) after %d steps; loss %.2f → %.2f",
        untrained["AP"]!, trained["AP"]!, trained["AP50"] ?? -1, RealPhotoTests.steps, first, last))
    XCTAssertLessThan(untrained["AP"]!, 0.01)
    XCTAssertGreaterThan(trained["AP"]!, RealPhotoTests.minimumTrainedAP)

    // glip predict with the evaluation's prompt finds what glip eval scored, in the photos' own pixels.
    let categories = [
      "person", "cat", "cup", "rocket", "motorcycle", "flag", "helmet", "camera", "tripod", "spoon", "saucer",
      "bench", "tower", "coin", "clock", "galaxy", "star", "retina", "optic disc", "cell",
    ]
    let prompt = categories.joined(separator: ". ")
    let predict = ["predict", "--run", "run", "--prompt", prompt]
    try run(predict + ["--image", "photos", "--out", "predicted", "--threshold", "0.05"])
    let predicted = try predictions(directory + "/predicted/detections.json")
    let scored = try XCTUnwrap(
      try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: directory + "/detections.json")))
        as? [[String: Any]])
    let sizes = [
      1: (512, 512), 2: (512, 512), 3: (451, 300), 4: (600, 400), 5: (741, 500), 6: (640, 427), 7: (741, 500),
      8: (384, 303), 9: (400, 300), 10: (1000, 872), 11: (1411, 1411), 12: (550, 660),
    ]
    for (id, name) in RealPhotoTests.names.enumerated().map({ ($0.offset + 1, $0.element) }) {
      let found = try XCTUnwrap(predicted[name], name)
      let best = try XCTUnwrap(
        scored.filter { ($0["image_id"] as? Int) == id }.max { ($0["score"] as! Double) < ($1["score"] as! Double) })
      let xywh = (best["bbox"] as! [Double]).map(Float.init)
      let evalBox = [xywh[0], xywh[1], xywh[0] + xywh[2], xywh[1] + xywh[3]]
      XCTAssertEqual(found.first?.phrase, categories[(best["category_id"] as! Int) - 1], name)
      for (mine, theirs) in zip(found.first?.box ?? [], evalBox) { XCTAssertEqual(mine, theirs, accuracy: 0.02, name) }
      let (width, height) = sizes[id]!
      XCTAssertTrue(
        found.allSatisfy { $0.box[2] <= Float(width) + 0.01 && $0.box[3] <= Float(height) + 0.01 }, name)
      XCTAssertGreaterThan(
        found.map { max($0.box[2] / Float(width), $0.box[3] / Float(height)) }.max() ?? 0, 0.6,
        "\(name): boxes reach across the photo, not only the resized image's \(160) pixels")
    }

    // The same photo stored turned a quarter and tagged with EXIF orientation 6 gives the same boxes.
    let upright = try ImageIO.read(path: directory + "/photos/chelsea.png")
    try FileManager.default.createDirectory(atPath: directory + "/phone", withIntermediateDirectories: true)
    try RealPhotoTests.pngWithOrientation(upright.oriented(8), orientation: 6)
      .write(to: URL(fileURLWithPath: directory + "/phone/chelsea.png"))
    try run(predict + ["--image", "phone", "--out", "phone-predicted"])
    let turned = try predictions(directory + "/phone-predicted/detections.json")["chelsea.png"]
    try run(predict + ["--image", "photos/chelsea.png", "--out", "plain"])
    let plain = try predictions(directory + "/plain/detections.json")["chelsea.png"]
    XCTAssertFalse(plain?.isEmpty ?? true)
    XCTAssertEqual(turned?.map(\.phrase), plain?.map(\.phrase))
    XCTAssertEqual(turned?.map(\.box), plain?.map(\.box))
  }

  /// detections.json of glip predict by image file name.
  private func predictions(_ path: String) throws -> [String: [(box: [Float], phrase: String)]] {
    let images = try XCTUnwrap(
      try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: path))) as? [[String: Any]])
    var result: [String: [(box: [Float], phrase: String)]] = [:]
    for image in images {
      let name = URL(fileURLWithPath: image["image"] as! String).lastPathComponent
      result[name] = (image["detections"] as! [[String: Any]]).map {
        (($0["box"] as! [Double]).map(Float.init), $0["phrase"] as! String)
      }
    }
    return result
  }

  /// `image` as a PNG with an `eXIf` chunk (a little-endian TIFF block holding only the orientation) after IHDR.
  static func pngWithOrientation(_ image: RGBImage, orientation: UInt8) throws -> Data {
    let png = [UInt8](try ImageIO.encodePNG(image))
    let tiff: [UInt8] =
      [0x49, 0x49, 42, 0, 8, 0, 0, 0, 1, 0, 0x12, 0x01, 3, 0, 1, 0, 0, 0, orientation, 0, 0, 0]
      + [0, 0, 0, 0]
    let body = Array("eXIf".utf8) + tiff
    let length = UInt32(tiff.count), crc = crc32(body)
    let chunk =
      [UInt8(length >> 24), UInt8(length >> 16 & 0xFF), UInt8(length >> 8 & 0xFF), UInt8(length & 0xFF)] + body
      + [UInt8(crc >> 24), UInt8(crc >> 16 & 0xFF), UInt8(crc >> 8 & 0xFF), UInt8(crc & 0xFF)]
    return Data(png[0..<33] + chunk + png[33...])
  }

  static func crc32(_ bytes: [UInt8]) -> UInt32 {
    var crc: UInt32 = 0xFFFF_FFFF
    for byte in bytes {
      crc ^= UInt32(byte)
      for _ in 0..<8 { crc = crc & 1 == 1 ? (crc >> 1) ^ 0xEDB8_8320 : crc >> 1 }
    }
    return ~crc
  }
}
