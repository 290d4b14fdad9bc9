import Foundation
import Imaging
import TensorCore

/// Writes a transfer task (``SyntheticTask``) to a directory: `images/NNNNNN.png` and `instances.json`, a COCO
/// detection file whose category names are the task's words (`glip train` and `glip eval` read it with
/// `format: coco`). The same task, seed and image count give byte-identical files.
///
/// ```swift
/// let task = try SyntheticTasks.make(name: "patterns", size: 128)
/// try SyntheticTaskWriter.write(task, to: "data/patterns/train", images: 40, seed: 1)
/// ```
public enum SyntheticTaskWriter {
  /// The annotation file's name.
  public static let annotationFile = "instances.json"

  /// Writes images `0..<count` of `task` with `seed` under `directory` (created if needed), then `instances.json`.
  /// A count outside ``SyntheticDatasetWriter/imageCounts`` is an error, as is an image that cannot be made (an
  /// unreadable photo) or written.
  public static func write(_ task: any SyntheticTask, to directory: String, images count: Int, seed: UInt64) throws {
    try SyntheticDatasetWriter.checkRequest(images: count, size: task.size)
    let root = URL(fileURLWithPath: directory)
    let objects = try SyntheticDatasetWriter.writeImages(count: count, size: task.size, root: root) { index in
      let sample = try task.sample(index: index, seed: seed)
      return (sample.image, sample.objects.map { (category: $0.category, box: $0.shape.box) })
    }
    try SyntheticDatasetWriter.write(
      SyntheticDatasetWriter.coco(objects, categories: task.categories, size: task.size),
      to: root.appendingPathComponent(annotationFile))
  }
}
