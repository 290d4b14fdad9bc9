import FuzzSupport
import Imaging

/// PNG decoding through libpng, with the pixel limit checked from the header.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ bytes: UnsafePointer<UInt8>?, _ count: Int) -> Int32 {
  _ = try? ImageIO.decode(FuzzInput.data(bytes, count), path: "fuzz.png")
  _ = ImageHeader.parse([UInt8](FuzzInput.data(bytes, count)))
  return 0
}

FuzzDriver.run(fuzz)
