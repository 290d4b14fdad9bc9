import Datasets
import Detection
import Foundation
import Imaging
import Language

/// A prompt for each image, for `glip predict --prompts FILE`: JSON Lines of `{"image": "photos/a.jpg", "prompt":
/// "a [dog] on a [sofa]"}`, image paths relative to the file's folder (or absolute), each prompt in `--prompt`'s
/// syntax.
public struct ImagePrompts {
  public struct Entry: Equatable {
    public var image: String
    public var prompt: PromptInput
    /// The 1-based line in the file, for errors.
    public var line: Int
  }

  public var entries: [Entry]

  /// Reads the file; a line that is not an object with a string `image` and a non-empty `prompt` (and nothing else)
  /// is an error naming the file and line.
  public init(path: String) throws {
    guard let data = FileManager.default.contents(atPath: path) else {
      throw DatasetError(path: path, record: nil, reason: "cannot read file")
    }
    guard let text = String(data: data, encoding: .utf8) else {
      throw DatasetError(path: path, record: nil, reason: "not UTF-8 text")
    }
    let folder = URL(fileURLWithPath: path).deletingLastPathComponent()
    var entries: [Entry] = []
    for (index, line) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated()
    where !line.trimmingCharacters(in: .whitespaces).isEmpty {
      func problem(_ reason: String) -> DatasetError {
        DatasetError(path: path, record: entries.count, location: "line \(index + 1)", reason: reason)
      }
      guard let object = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any] else {
        throw problem("expected a JSON object {\"image\": …, \"prompt\": …}")
      }
      if let unknown = object.keys.sorted().first(where: { !["image", "prompt"].contains($0) }) {
        throw problem("unknown key '\(unknown)' (expected image and prompt)")
      }
      guard let image = object["image"] as? String, !image.isEmpty else { throw problem("missing string 'image'") }
      guard let prompt = object["prompt"] as? String else { throw problem("missing string 'prompt'") }
      let input: PromptInput
      do {
        input = try PromptInput(parsing: prompt)
      } catch {
        throw problem("\(error)")
      }
      let resolved = image.hasPrefix("/") ? image : folder.appendingPathComponent(image).path
      entries.append(Entry(image: resolved, prompt: input, line: index + 1))
    }
    guard !entries.isEmpty else {
      throw DatasetError(path: path, record: nil, reason: "no lines ({\"image\": …, \"prompt\": …})")
    }
    self.entries = entries
  }
}

extension Predictor {
  /// Reads each entry's image and detects under its own prompt, `batchSize` images at a time as one batch; `body`
  /// gets each entry's index, photo and detections, in order. A prompt must fit the text encoder in one piece (long
  /// class lists belong in `--prompt`, which is chunked); one that does not is an error naming its line.
  public func detect(
    _ list: ImagePrompts, file: String, _ body: (Int, RGBImage, [Detection]) throws -> Void
  ) throws {
    let single = try list.entries.map { entry -> Prompt in
      let chunks = try self.prompts(for: entry.prompt)
      guard chunks.count == 1 else {
        throw DatasetError(
          path: file, record: nil, location: nil,
          reason: "line \(entry.line): the prompt needs \(chunks.count) passes of the text encoder; give at most "
            + "as many phrases as fit one")
      }
      return chunks[0]
    }
    for start in stride(from: 0, to: list.entries.count, by: max(1, batchSize)) {
      let indices = start..<min(list.entries.count, start + max(1, batchSize))
      let photos = try indices.map { index in
        do {
          return try sizing.read(path: list.entries[index].image)
        } catch {
          throw DatasetError(
            path: file, record: nil, location: nil, reason: "line \(list.entries[index].line): \(error)")
        }
      }
      let found = try detect(photos, eachWith: indices.map { single[$0] })
      for (slot, index) in indices.enumerated() { try body(index, photos[slot], found[slot]) }
    }
  }
}
