import FuzzSupport
import NN

/// PyTorch checkpoints, zip and legacy: the restricted unpickler and the tensor rebuild. The reader takes a path
/// (the zip reader seeks), so the input goes through a scratch file.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ bytes: UnsafePointer<UInt8>?, _ count: Int) -> Int32 {
  _ = try? PyTorchCheckpoint.read(path: FuzzInput.file(bytes, count, suffix: ".pth"))
  return 0
}

FuzzDriver.run(fuzz)
