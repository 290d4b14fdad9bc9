import Foundation
import Imaging
import TensorCore

/// `photo_backgrounds`: the pre-training's five shapes in its six colours, pasted on crops of real photos instead of
/// the synthetic wave-and-noise texture. The categories are the shape names, as in `instances_shapes.json`, so only
/// the backgrounds are new: the test of whether the detector learnt shapes or the texture they sat on.
///
/// The photos are every PNG and JPEG file (`.png`, `.jpg`, `.jpeg`, any case) in one folder, sorted by name. Each
/// image takes one photo and a random square crop of it (60–100 % of its shorter side, flipped half the time),
/// resized to the image side with the bilinear filter. The same seed and the same folder give the same files.
/// `scripts/sample-photos.sh DIR` writes six scikit-image photos to use.
public struct PhotoBackgroundsTask: SyntheticTask {
  public static let name = "photo_backgrounds"
  public static let summary =
    "the known shapes on crops of real photos (--backgrounds DIR) instead of the synthetic texture"
  public static let takesBackgrounds = true
  static let extensions: Set<String> = ["png", "jpg", "jpeg"]

  public let size: Int
  /// The paths of the photos, sorted by file name.
  public let photos: [String]
  public var categories: [String] { SyntheticShapes.shapes }

  /// Lists the photos of the folder `backgrounds` and reads each one's header, so that a file that is not a PNG or
  /// JPEG image fails here, named, before any image is written.
  public init(size: Int, backgrounds: String?) throws {
    guard let backgrounds else {
      throw SyntheticDataError(
        "the \(Self.name) task needs --backgrounds DIR, a folder of PNG or JPEG photos "
          + "(scripts/sample-photos.sh DIR writes six)")
    }
    let names: [String]
    do {
      names = try FileManager.default.contentsOfDirectory(atPath: backgrounds)
    } catch {
      throw SyntheticDataError("--backgrounds \(backgrounds): not a readable folder")
    }
    let folder = URL(fileURLWithPath: backgrounds)
    photos = names.filter { Self.extensions.contains(($0 as NSString).pathExtension.lowercased()) }.sorted()
      .map { folder.appendingPathComponent($0).path }
      .filter { path in
        var isFolder: ObjCBool = false
        return FileManager.default.fileExists(atPath: path, isDirectory: &isFolder) && !isFolder.boolValue
      }
    guard !photos.isEmpty else {
      throw SyntheticDataError("--backgrounds \(backgrounds): no PNG or JPEG files (.png, .jpg, .jpeg) in the folder")
    }
    for photo in photos { _ = try ImageIO.header(path: photo) }
    self.size = size
  }

  public func sample(index: Int, seed: UInt64) throws -> SyntheticTaskSample {
    var random = randomStream(index: index, seed: seed)
    var image = try background(&random)
    let objects = compose(on: &image, &random) { random, _ in
      let shape = Self.pick(SyntheticShapes.shapes.count, &random)
      let colour = SyntheticShapes.colours[Self.pick(SyntheticShapes.colours.count, &random)].rgb
      return (shape, SyntheticShapes.outlines[shape], .solid(SyntheticCanvas.shaded(colour, Self.shade(&random))))
    }
    return SyntheticTaskSample(image: image, objects: objects)
  }

  /// A random square crop of a random photo, flipped half the time, resized to `size` × `size`.
  func background(_ random: inout SeededGenerator) throws -> RGBImage {
    let photo = try ImageIO.read(path: photos[Self.pick(photos.count, &random)])
    let shorter = min(photo.width, photo.height)
    let side = max(1, Int(Float(shorter) * (0.6 + 0.4 * random.nextUnitFloat())))
    let (left, top) = (Self.pick(photo.width - side + 1, &random), Self.pick(photo.height - side + 1, &random))
    let flip = random.nextUnitFloat() < 0.5
    var crop = RGBImage(width: side, height: side)
    for y in 0..<side {
      for x in 0..<side { crop[x, y] = photo[left + (flip ? side - 1 - x : x), top + y] }
    }
    return PillowResampling.bilinear(crop, width: size, height: size)
  }
}
