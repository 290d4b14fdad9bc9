import Foundation

/// An image and a caption to pseudo-label: one line of a captions file.
public struct CaptionPair: Equatable, Sendable {
  /// The image's path relative to the images folder (as ODVG's `filename`).
  public var fileName: String
  public var caption: String
  /// The 1-based line of the captions file, for messages.
  public var line: Int

  public init(fileName: String, caption: String, line: Int) {
    self.fileName = fileName
    self.caption = caption
    self.line = line
  }
}

/// Captions files (JSON Lines) for `glip pseudo-label`: one object per line, `{"file_name": "images/000001.png",
/// "caption": "a grainy photo with two purple stars"}`, `file_name` relative to the images folder. Blank lines are
/// skipped; an image may appear on several lines with different captions.
///
/// Reading is strict: a line that is not a JSON object, a missing or non-string field, an empty caption, an unknown
/// key or a missing image is an error naming the file, the line and the problem.
public enum CaptionPairs {
  public static let keys: Set<String> = ["file_name", "caption"]

  public static func load(path: String, imageRoot: String) throws -> [CaptionPair] {
    guard let data = FileManager.default.contents(atPath: path) else {
      throw DatasetError(path: path, record: nil, reason: "cannot read file")
    }
    guard let text = String(data: data, encoding: .utf8) else {
      throw DatasetError(path: path, record: nil, reason: "not UTF-8 text")
    }
    var pairs: [CaptionPair] = []
    for (index, line) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
      guard !line.allSatisfy(\.isWhitespace) else { continue }
      do {
        pairs.append(try pair(String(line), line: index + 1, imageRoot: imageRoot))
      } catch let problem as GroundingData.RecordProblem {
        throw DatasetError(path: path, record: pairs.count, location: "line \(index + 1)", reason: problem.message)
      }
    }
    guard !pairs.isEmpty else {
      throw DatasetError(path: path, record: nil, reason: "no caption lines ({\"file_name\": …, \"caption\": …})")
    }
    return pairs
  }

  static func pair(_ line: String, line number: Int, imageRoot: String) throws -> CaptionPair {
    typealias Problem = GroundingData.RecordProblem
    let parsed: Any
    do {
      parsed = try JSONSerialization.jsonObject(with: Data(line.utf8))
    } catch {
      throw Problem("not valid JSON (\(GroundingData.jsonProblem(error)))")
    }
    guard let object = parsed as? [String: Any] else { throw Problem("not a JSON object") }
    if let unknown = object.keys.sorted().first(where: { !keys.contains($0) }) {
      throw Problem("unknown key '\(unknown)' (a line has 'file_name' and 'caption')")
    }
    guard let fileName = object["file_name"] as? String, !fileName.isEmpty else {
      throw Problem("'file_name' must be a non-empty string, got \(GroundingData.jsonText(object["file_name"]))")
    }
    guard let caption = object["caption"] as? String else {
      throw Problem("'caption' must be a string, got \(GroundingData.jsonText(object["caption"]))")
    }
    guard caption.contains(where: { !$0.isWhitespace }) else { throw Problem("'caption' is empty") }
    let imagePath = URL(fileURLWithPath: imageRoot).appendingPathComponent(fileName).path
    guard FileManager.default.fileExists(atPath: imagePath) else {
      throw Problem("image file missing: \(imagePath)")
    }
    return CaptionPair(fileName: fileName, caption: caption, line: number)
  }
}
