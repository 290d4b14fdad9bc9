import FuzzSupport
import TensorCore

/// Safetensors headers and payloads: any input parses or throws `SafetensorsError`.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ bytes: UnsafePointer<UInt8>?, _ count: Int) -> Int32 {
  _ = try? SafetensorsFile.parse(FuzzInput.data(bytes, count), path: "fuzz.safetensors")
  return 0
}

FuzzDriver.run(fuzz)
