import Components
import Config
import Detection
import XCTest

/// Anchored prefix rules with index arithmetic (remap tables), and the official GLIP tables built from them.
final class RemapPrefixRuleTests: XCTestCase {
  func testIndexPlaceholdersMapNumberedModules() throws {
    let text = try PrefixRule(from: "rpn.head.dyhead_tower.{3b+1}.", to: "head.tower.{b}.text_layer.")
    XCTAssertEqual(
      text.apply("rpn.head.dyhead_tower.1.output.dense.weight"), "head.tower.0.text_layer.output.dense.weight")
    XCTAssertEqual(
      text.apply("rpn.head.dyhead_tower.16.intermediate.dense.bias"), "head.tower.5.text_layer.intermediate.dense.bias")
    XCTAssertNil(text.apply("rpn.head.dyhead_tower.3.DyConv.0.conv.weight"), "3 is 3b, not 3b+1")
    XCTAssertNil(text.apply("rpn.head.dyhead_tower.x.weight"))
    let lateral = try PrefixRule(from: "backbone.fpn.fpn_inner{n+2}.", to: "neck.lateral.{n}.")
    XCTAssertEqual(lateral.apply("backbone.fpn.fpn_inner4.weight"), "neck.lateral.2.weight")
    XCTAssertNil(lateral.apply("backbone.fpn.fpn_inner1.weight"), "below the offset")
    let shifted = try PrefixRule(from: "blocks.{i}.", to: "layers.{i+1}.")
    XCTAssertEqual(shifted.apply("blocks.9.w"), "layers.10.w")
  }

  func testPrefixRulesAreAnchoredAndTheFirstMatchWins() throws {
    let table = try RemapTable(
      yaml: """
        prefixes:
          - {from: "backbone.body.", to: "backbone."}
          - {from: "language_backbone.body.model.", to: "text_encoder."}
          - {from: "backbone.", to: "never."}
        renames: [{from: "LayerNorm.gamma", to: "LayerNorm.weight"}]
        """, file: "t.yaml")
    XCTAssertEqual(table.map("backbone.body.layers.0.blocks.0.norm1.weight"), "backbone.layers.0.blocks.0.norm1.weight")
    XCTAssertEqual(
      table.map("language_backbone.body.model.encoder.layer.0.output.LayerNorm.gamma"),
      "text_encoder.encoder.layer.0.output.LayerNorm.weight", "a substring of another rule's prefix is not rewritten")
    XCTAssertEqual(table.map("backbone.fpn.x"), "never.fpn.x")
    XCTAssertEqual(table.map("rpn.other"), "rpn.other", "keys no rule matches pass through to strict loading")
  }

  func testMalformedPlaceholdersAreErrorsWithPositions() {
    for (rule, message) in [
      ("{from: \"a.{3}.\", to: \"b.\"}", "'{3}' is not an index placeholder"),
      ("{from: \"a.{b}.\", to: \"c.{d}.\"}", "'{d}' is not bound in 'from'"),
      ("{from: \"a.{b}{c}.\", to: \"c.\"}", "two placeholders need text between them"),
      ("{from: \"a.{b.\", to: \"c.\"}", "'{' without a closing '}'"),
      ("{from: \"a.{b}.\", to: \"c.{2b}.\"}", "'to' writes an index as {name} or {name+offset}"),
    ] {
      XCTAssertThrowsError(try RemapTable(yaml: "prefixes:\n  - \(rule)\n", file: "bad.yaml"), rule) { error in
        XCTAssertTrue("\(error)".hasPrefix("bad.yaml:2:"), "\(error)")
        XCTAssertTrue("\(error)".contains(message), "\(error)")
      }
    }
  }

  func testOfficialTableMapsEveryPartOfGLIP() throws {
    let table = try RemapTable(yaml: BuiltinRemaps.glipOfficial, file: "glip_official.yaml")
    let expected = [
      "module.backbone.body.patch_embed.proj.weight": "backbone.patch_embed.proj.weight",
      "module.backbone.body.norm3.bias": "backbone.norm3.bias",
      "module.backbone.fpn.fpn_inner2.weight": "neck.lateral.0.weight",
      "module.backbone.fpn.fpn_layer4.bias": "neck.output.2.bias",
      "module.backbone.fpn.top_blocks.p7.weight": "neck.p7.weight",
      "module.language_backbone.body.model.encoder.layer.11.output.dense.weight":
        "text_encoder.encoder.layer.11.output.dense.weight",
      "module.rpn.head.dyhead_tower.15.b_attn.attn.v_proj.weight": "head.tower.5.fusion.attn.v_proj.weight",
      "module.rpn.head.dyhead_tower.16.attention.self.query.bias": "head.tower.5.text_layer.attention.self.query.bias",
      "module.rpn.head.dyhead_tower.17.DyConv.0.conv.weight": "head.tower.5.conv.DyConv.0.conv.weight",
      "module.rpn.head.scales.4.scale": "head.scales.4",
      "module.rpn.head.dot_product_projection_text.weight": "head.classifier.projection.weight",
      "module.rpn.head.bias0": "head.classifier.bias0",
      "module.rpn.head.bbox_pred.weight": "head.bbox_pred.weight",
    ]
    for (official, ours) in expected { XCTAssertEqual(table.map(official), ours, official) }
    for ignored in [
      "module.rpn.head.cls_logits.weight", "module.rpn.anchor_generator.cell_anchors.0",
      "module.language_backbone.body.model.embeddings.position_ids",
      "module.backbone.body.layers.0.blocks.0.attn.relative_position_index",
    ] {
      XCTAssertNil(table.map(ignored), ignored)
    }
    let noFusion = try RemapTable(yaml: BuiltinRemaps.glipOfficialA, file: "glip_official_a.yaml")
    XCTAssertEqual(
      noFusion.map("module.rpn.head.dyhead_tower.5.relu.fc.0.weight"), "head.tower.5.conv.relu.fc.0.weight")
  }
}
