import Datasets
import FuzzSupport

/// ODVG JSON lines, with both bad-record policies.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ bytes: UnsafePointer<UInt8>?, _ count: Int) -> Int32 {
  let path = FuzzInput.file(bytes, count, suffix: ".jsonl")
  _ = try? GroundingData.loadODVG(path: path, imageRoot: imageRoot, policy: .skip)
  _ = try? GroundingData.loadODVG(path: path, imageRoot: imageRoot, policy: .fail)
  return 0
}

let imageRoot = FuzzInput.packageDirectory.appendingPathComponent("corpus/images").path

FuzzDriver.run(fuzz)
