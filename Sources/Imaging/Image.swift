import CJPEG
import CPNG
import Foundation
import TensorCore

/// An 8-bit RGB image, row-major, channels last (HWC).
public struct RGBImage: Equatable, Sendable {
  public var width: Int
  public var height: Int
  public var pixels: [UInt8]

  public init(width: Int, height: Int, pixels: [UInt8]) {
    precondition(pixels.count == width * height * 3, "RGBImage: \(pixels.count) bytes for \(width)×\(height)×3")
    self.width = width
    self.height = height
    self.pixels = pixels
  }

  public init(width: Int, height: Int, fill: (UInt8, UInt8, UInt8) = (0, 0, 0)) {
    self.init(width: width, height: height, pixels: Array([fill.0, fill.1, fill.2].repeated(width * height)))
  }

  public subscript(x: Int, y: Int) -> (UInt8, UInt8, UInt8) {
    get {
      let index = (y * width + x) * 3
      return (pixels[index], pixels[index + 1], pixels[index + 2])
    }
    set {
      let index = (y * width + x) * 3
      (pixels[index], pixels[index + 1], pixels[index + 2]) = newValue
    }
  }
}

extension Array {
  fileprivate func repeated(_ count: Int) -> [Element] { (0..<count).flatMap { _ in self } }
}

/// Decoding and encoding errors name the file.
public struct ImageError: Error, CustomStringConvertible {
  public let path: String
  public let reason: String
  public var description: String { "\(path): \(reason)" }
}

/// PNG and JPEG files. PNG: 8/16-bit, gray, gray+alpha, RGB, RGBA, palette, interlaced (16-bit samples keep their
/// high byte, as PIL does). JPEG: baseline and progressive, gray, colour and CMYK/YCCK (Adobe-inverted when the file
/// says so). Alpha is dropped (not composited), as PIL's `convert("RGB")` does. The EXIF orientation (a JPEG's APP1
/// Exif segment, a PNG's eXIf chunk) is applied unless `exifOrientation` is false — GLIP's own loader ignores it.
/// Images above `InputLimits.maxImagePixels` are refused from their header, before any pixel memory is allocated.
public enum ImageIO {
  public static func read(path: String, exifOrientation: Bool = true) throws -> RGBImage {
    guard let data = FileManager.default.contents(atPath: path) else {
      throw ImageError(path: path, reason: "cannot read file")
    }
    return try decode(data, path: path, exifOrientation: exifOrientation)
  }

  public static func decode(_ data: Data, path: String = "<memory>", exifOrientation: Bool = true) throws -> RGBImage {
    let bytes = [UInt8](data)
    let image: RGBImage
    if bytes.starts(with: [0x89, 0x50, 0x4E, 0x47]) {
      image = try decodePNG(bytes, path: path)
    } else if bytes.starts(with: [0xFF, 0xD8]) {
      image = try decodeJPEG(bytes, path: path)
    } else {
      throw ImageError(path: path, reason: "not a PNG or JPEG file")
    }
    return exifOrientation ? image.oriented(ImageHeader.orientation(of: bytes)) : image
  }

  /// The header of the image at `path` — its size and EXIF orientation — read from the start of the file (the whole
  /// file only when a large Exif block pushes the JPEG frame header past the first 64 KiB).
  public static func header(path: String) throws -> ImageHeader {
    guard let handle = FileHandle(forReadingAtPath: path) else {
      throw ImageError(path: path, reason: "cannot read file")
    }
    defer { try? handle.close() }
    let prefix = [UInt8]((try? handle.read(upToCount: 1 << 16)) ?? Data())
    if let header = ImageHeader.parse(prefix) { return header }
    guard prefix.starts(with: [0x89, 0x50, 0x4E, 0x47]) || prefix.starts(with: [0xFF, 0xD8]) else {
      throw ImageError(path: path, reason: "not a PNG or JPEG file")
    }
    let rest = [UInt8]((try? handle.readToEnd()) ?? Data())
    guard let header = ImageHeader.parse(prefix + rest) else {
      throw ImageError(path: path, reason: "no image size in the header (truncated or damaged file)")
    }
    return header
  }

  static func decodePNG(_ bytes: [UInt8], path: String) throws -> RGBImage {
    var output: UnsafeMutablePointer<UInt8>?
    var (width, height, channels): (Int32, Int32, Int32) = (0, 0, 0)
    var message = [CChar](repeating: 0, count: 256)
    let status = glip_png_decode(
      bytes, bytes.count, InputLimits.maxImagePixels, &output, &width, &height, &channels, &message)
    guard status == 0, let output else {
      throw ImageError(path: path, reason: "invalid PNG: " + String(cString: message))
    }
    defer { free(output) }
    let count = Int(width) * Int(height)
    var pixels = [UInt8](repeating: 0, count: count * 3)
    for index in 0..<count {
      let source = output + index * Int(channels)
      if channels <= 2 {
        (pixels[3 * index], pixels[3 * index + 1], pixels[3 * index + 2]) = (source[0], source[0], source[0])
      } else {
        (pixels[3 * index], pixels[3 * index + 1], pixels[3 * index + 2]) = (source[0], source[1], source[2])
      }
    }
    return RGBImage(width: Int(width), height: Int(height), pixels: pixels)
  }

  static func decodeJPEG(_ bytes: [UInt8], path: String) throws -> RGBImage {
    var output: UnsafeMutablePointer<UInt8>?
    var (width, height): (Int32, Int32) = (0, 0)
    var message = [CChar](repeating: 0, count: Int(JMSG_LENGTH_MAX))
    let status = glip_jpeg_decode(bytes, bytes.count, InputLimits.maxImagePixels, &output, &width, &height, &message)
    guard status == 0, let output else {
      throw ImageError(path: path, reason: "invalid JPEG: " + String(cString: message))
    }
    defer { free(output) }
    return RGBImage(
      width: Int(width), height: Int(height),
      pixels: Array(UnsafeBufferPointer(start: output, count: Int(width) * Int(height) * 3)))
  }

  /// PNG bytes of an RGB image.
  public static func encodePNG(_ image: RGBImage) throws -> Data {
    var encoded: UnsafeMutablePointer<UInt8>?
    var size = 0
    var message = [CChar](repeating: 0, count: 256)
    let status = glip_png_encode(image.pixels, Int32(image.width), Int32(image.height), 3, &encoded, &size, &message)
    guard status == 0, let encoded else {
      throw ImageError(path: "<png encoder>", reason: String(cString: message))
    }
    defer { free(encoded) }
    return Data(bytes: encoded, count: size)
  }

  /// Writes a PNG through a temporary file renamed into place.
  public static func writePNG(_ image: RGBImage, path: String) throws {
    let data = try encodePNG(image)
    do {
      try AtomicFile.write(data, to: path)
    } catch let error as AtomicFile.WriteError {
      throw ImageError(path: path, reason: error.reason)
    }
  }
}
