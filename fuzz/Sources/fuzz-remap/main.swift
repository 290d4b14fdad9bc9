import Detection
import FuzzSupport

/// Remap tables (prefix rules with index placeholders, renames, transforms), applied to official GLIP key shapes.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ bytes: UnsafePointer<UInt8>?, _ count: Int) -> Int32 {
  guard let text = FuzzInput.text(bytes, count), let table = try? RemapTable(yaml: text, file: "fuzz.yaml") else {
    return 0
  }
  for key in sampleKeys { _ = table.map(key) }
  return 0
}

let sampleKeys = [
  "module.rpn.head.dyhead_tower.17.DyConv.0.conv.weight", "module.backbone.fpn.fpn_inner2.weight",
  "module.language_backbone.body.model.encoder.layer.11.output.dense.weight", "rpn.head.scales.4.scale",
  "backbone.body.layers.0.blocks.0.attn.relative_position_index", "99999999999999999999.x", "",
]

FuzzDriver.run(fuzz)
