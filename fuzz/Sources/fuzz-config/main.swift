import Config
import Experiments
import FuzzSupport

/// A config file as `glip config check` and `glip inspect` read it: YAML with anchors, aliases and merge keys,
/// `_base_` inheritance and `_delete_` markers, then the typed reads of every section and the assembly of the model
/// from shapes alone.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ bytes: UnsafePointer<UInt8>?, _ count: Int) -> Int32 {
  guard let loaded = try? LoadedConfig(path: FuzzInput.file(bytes, count, suffix: ".yaml")) else { return 0 }
  _ = try? CheckedExperiment(loaded, shapesOnly: true)
  return 0
}

FuzzDriver.run(fuzz)
