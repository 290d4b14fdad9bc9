/// What a PNG or JPEG file's header says without decoding pixels: the stored size and the EXIF orientation.
///
/// The orientation (TIFF tag 0x0112, 1…8) comes from a JPEG's APP1 `Exif` segment or a PNG's `eXIf` chunk before the
/// image data. Every offset is checked against the bytes, so a damaged or hostile Exif block reads as orientation 1,
/// never as a crash.
public struct ImageHeader: Equatable, Sendable {
  /// The stored size, before the orientation is applied.
  public var width: Int
  public var height: Int
  /// 1 (as stored) … 8; 5…8 swap width and height.
  public var orientation: Int

  public init(width: Int, height: Int, orientation: Int = 1) {
    self.width = width
    self.height = height
    self.orientation = orientation
  }

  /// The size as displayed: width and height swapped for orientations 5…8.
  public var orientedSize: (width: Int, height: Int) {
    orientation >= 5 ? (height, width) : (width, height)
  }

  /// Parses the header of PNG or JPEG `bytes`; nil when the bytes end before the size (a prefix too short, or a file
  /// that is not a PNG or JPEG).
  public static func parse(_ bytes: [UInt8]) -> ImageHeader? {
    if bytes.starts(with: [0x89, 0x50, 0x4E, 0x47]) { return png(bytes) }
    if bytes.starts(with: [0xFF, 0xD8]) { return jpeg(bytes) }
    return nil
  }

  /// The EXIF orientation of PNG or JPEG `bytes` (1 when there is none or it is unreadable).
  public static func orientation(of bytes: [UInt8]) -> Int {
    if bytes.starts(with: [0x89, 0x50, 0x4E, 0x47]) { return pngOrientation(bytes) }
    if bytes.starts(with: [0xFF, 0xD8]) { return jpegSegments(bytes).orientation }
    return 1
  }

  static func png(_ bytes: [UInt8]) -> ImageHeader? {
    guard bytes.count >= 24, bytes[12..<16].elementsEqual("IHDR".utf8) else { return nil }
    return ImageHeader(
      width: Int(bigEndian32(bytes, 16)), height: Int(bigEndian32(bytes, 20)), orientation: pngOrientation(bytes))
  }

  /// The orientation in an `eXIf` chunk before the first `IDAT` (where the PNG specification places it).
  static func pngOrientation(_ bytes: [UInt8]) -> Int {
    var offset = 8
    while offset + 8 <= bytes.count {
      let length = Int(bigEndian32(bytes, offset))
      let type = String(decoding: bytes[(offset + 4)..<(offset + 8)], as: UTF8.self)
      let start = offset + 8
      if type == "IDAT" || type == "IEND" { break }
      guard length <= bytes.count - start else { break }
      if type == "eXIf" { return tiffOrientation(Array(bytes[start..<(start + length)])) }
      offset = start + length + 4
    }
    return 1
  }

  static func jpeg(_ bytes: [UInt8]) -> ImageHeader? {
    let segments = jpegSegments(bytes)
    guard let size = segments.size else { return nil }
    return ImageHeader(width: size.width, height: size.height, orientation: segments.orientation)
  }

  /// Walks the JPEG markers up to the first scan: the frame size (SOFn) and the first Exif orientation.
  static func jpegSegments(_ bytes: [UInt8]) -> (size: (width: Int, height: Int)?, orientation: Int) {
    var offset = 2
    var orientation: Int?
    var size: (width: Int, height: Int)?
    while offset + 4 <= bytes.count {
      guard bytes[offset] == 0xFF else { break }
      let marker = bytes[offset + 1]
      if marker == 0xFF {  // fill byte
        offset += 1
        continue
      }
      if marker == 0x01 || (0xD0...0xD8).contains(marker) {  // markers without a length
        offset += 2
        continue
      }
      if marker == 0xDA || marker == 0xD9 { break }  // start of scan, end of image
      let length = Int(bytes[offset + 2]) << 8 | Int(bytes[offset + 3])
      let start = offset + 4
      guard length >= 2, start + length - 2 <= bytes.count else { break }
      let segment = bytes[start..<(start + length - 2)]
      if marker == 0xE1, orientation == nil, segment.starts(with: Array("Exif".utf8) + [0, 0]) {
        orientation = tiffOrientation(Array(segment.dropFirst(6)))
      }
      if isFrameMarker(marker), segment.count >= 5 {
        let base = segment.startIndex
        size = (
          Int(segment[base + 3]) << 8 | Int(segment[base + 4]), Int(segment[base + 1]) << 8 | Int(segment[base + 2])
        )
      }
      offset = start + length - 2
    }
    return (size, orientation ?? 1)
  }

  /// SOF0…SOF15 except DHT (C4), JPG (C8) and DAC (CC).
  static func isFrameMarker(_ marker: UInt8) -> Bool {
    (0xC0...0xCF).contains(marker) && ![0xC4, 0xC8, 0xCC].contains(marker)
  }

  /// Tag 0x0112 of IFD0 in a TIFF block (`II*\0` or `MM\0*`); 1 when absent, malformed or outside 1…8.
  static func tiffOrientation(_ tiff: [UInt8]) -> Int {
    guard tiff.count >= 8 else { return 1 }
    let little: Bool
    switch (tiff[0], tiff[1]) {
    case (0x49, 0x49): little = true
    case (0x4D, 0x4D): little = false
    default: return 1
    }
    func read16(_ at: Int) -> Int? {
      guard at >= 0, at + 2 <= tiff.count else { return nil }
      return little ? Int(tiff[at]) | Int(tiff[at + 1]) << 8 : Int(tiff[at]) << 8 | Int(tiff[at + 1])
    }
    func read32(_ at: Int) -> Int? {
      guard let first = read16(at), let second = read16(at + 2) else { return nil }
      return little ? first | second << 16 : first << 16 | second
    }
    guard read16(2) == 42, let directory = read32(4), let count = read16(directory) else { return 1 }
    for entry in 0..<count {
      let at = directory + 2 + entry * 12
      guard let tag = read16(at), let type = read16(at + 2) else { return 1 }
      guard tag == 0x0112 else { continue }
      // SHORT is the standard type; some writers use LONG. Either way the value sits in the entry itself.
      let value = type == 4 ? read32(at + 8) : type == 3 ? read16(at + 8) : nil
      guard let value, (1...8).contains(value) else { return 1 }
      return value
    }
    return 1
  }

  static func bigEndian32(_ bytes: [UInt8], _ at: Int) -> UInt32 {
    bytes[at..<(at + 4)].reduce(0) { $0 << 8 | UInt32($1) }
  }
}

extension RGBImage {
  /// The image as displayed under EXIF `orientation` (1…8), as Pillow's `ImageOps.exif_transpose`: 2 mirrors, 3
  /// rotates 180°, 4 flips vertically, 5 transposes, 6 rotates 90° clockwise, 7 transverses, 8 rotates 90°
  /// counter-clockwise. Other values return the image unchanged.
  public func oriented(_ orientation: Int) -> RGBImage {
    guard (2...8).contains(orientation) else { return self }
    let swaps = orientation >= 5
    let (outWidth, outHeight) = swaps ? (height, width) : (width, height)
    var output = [UInt8](repeating: 0, count: pixels.count)
    pixels.withUnsafeBufferPointer { source in
      output.withUnsafeMutableBufferPointer { target in
        for y in 0..<outHeight {
          for x in 0..<outWidth {
            let (sourceX, sourceY) = sourcePixel(x, y, orientation: orientation)
            let from = (sourceY * width + sourceX) * 3, to = (y * outWidth + x) * 3
            target[to] = source[from]
            target[to + 1] = source[from + 1]
            target[to + 2] = source[from + 2]
          }
        }
      }
    }
    return RGBImage(width: outWidth, height: outHeight, pixels: output)
  }

  /// Which stored pixel lands at displayed (`x`, `y`).
  private func sourcePixel(_ x: Int, _ y: Int, orientation: Int) -> (Int, Int) {
    switch orientation {
    case 2: return (width - 1 - x, y)
    case 3: return (width - 1 - x, height - 1 - y)
    case 4: return (x, height - 1 - y)
    case 5: return (y, x)
    case 6: return (y, height - 1 - x)
    case 7: return (width - 1 - y, height - 1 - x)
    case 8: return (width - 1 - y, x)
    default: return (x, y)
    }
  }
}
