import Config
import Imaging
import TensorCore

/// How images are sized for the model at inference: a fixed square (`data.image_size`, the synthetic recipes), or
/// GLIP's rule — the shorter side to `min_size` unless the longer would pass `max_size`, the aspect ratio kept —
/// with the batch zero-padded to a multiple of `size_divisibility`. It also says how image files are read: whether
/// their EXIF orientation is applied first (`data.exif_orientation`).
public struct ImageSizing: Sendable, Equatable {
  /// How pixels are resampled to the target size.
  public enum Resample: String, ConfigEnum, Sendable {
    /// Bilinear interpolation of the normalised tensor (`F.interpolate`, half-pixel centres).
    case interpolate
    /// Pillow's antialiased bilinear filter on the 8-bit image, as GLIP's loader does (official checkpoints).
    case pilBilinear = "pil_bilinear"
  }

  /// The square side when images are squashed to a square; nil for aspect-preserving sizing.
  public var square: Int?
  /// The shorter side at inference (the first of `data.min_size`).
  public var shorterSide: Int
  public var maxSize: Int?
  public var divisibility: Int
  public var resample: Resample
  /// Whether `read(path:)` applies the file's EXIF orientation (GLIP's own loader does not).
  public var exifOrientation: Bool

  public init(
    square: Int?, shorterSide: Int = 800, maxSize: Int? = 1333, divisibility: Int = 32,
    resample: Resample = .interpolate, exifOrientation: Bool = true
  ) {
    self.exifOrientation = exifOrientation
    self.square = square
    self.shorterSide = shorterSide
    self.maxSize = maxSize
    self.divisibility = divisibility
    self.resample = resample
  }

  /// The image file at `path`, decoded to RGB and oriented as `exifOrientation` says.
  public func read(path: String) throws -> RGBImage {
    try ImageIO.read(path: path, exifOrientation: exifOrientation)
  }

  /// The (width, height) an image of `width` × `height` is resized to.
  public func targetSize(width: Int, height: Int) -> (width: Int, height: Int) {
    if let square { return (square, square) }
    return ImageTransforms.shorterSideSize(width: width, height: height, shorter: shorterSide, maxSize: maxSize)
  }

  /// An image ready for the model: `[3, H, W]` in the backbone's pixel format at the target size (unpadded), and the
  /// factors that map its pixels back to the original image.
  public struct Prepared {
    public var tensor: Tensor
    public var scaleX: Float
    public var scaleY: Float
    /// (height, width) before padding.
    public var validSize: (Int, Int) { (tensor.shape[1], tensor.shape[2]) }
  }

  /// `photo` resized to its target size and converted to the pixel format.
  public func prepare(_ photo: RGBImage, format: PixelFormat) -> Prepared {
    let (width, height) = targetSize(width: photo.width, height: photo.height)
    let tensor: Tensor
    switch resample {
    case .interpolate:
      tensor = ImageTransforms.resize(
        ImageTransforms.tensor(photo, format: format), height: height, width: width)
    case .pilBilinear:
      tensor = ImageTransforms.tensor(PillowResampling.bilinear(photo, width: width, height: height), format: format)
    }
    return Prepared(
      tensor: tensor, scaleX: Float(photo.width) / Float(width), scaleY: Float(photo.height) / Float(height))
  }

  /// A batch `[N, 3, H, W]` of prepared images, zero-padded at the bottom and right to the largest, rounded up to
  /// `divisibility` (square sizing pads nothing: every image is the square).
  public func batch(_ images: [Prepared]) -> Tensor {
    ImageTransforms.batch(images.map(\.tensor), divisor: square == nil ? divisibility : 1).images
  }
}
