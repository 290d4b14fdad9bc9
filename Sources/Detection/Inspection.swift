import Foundation
import NN

/// Parameter counts per slot and each slot's output contract, for `glip inspect`.
public struct Inspection {
  public struct Slot {
    public var name: String
    public var type: String
    public var parameters: Int
    public var trainable: Int
    public var outputs: [FeatureSpec]
    public var hiddenSize: Int?
  }

  public let slots: [Slot]
  public let totalParameters: Int
  public let trainableParameters: Int
  public let tree: String

  public init(_ detector: GroundingDetector) {
    let named = detector.namedParameters()
    func counts(_ belongs: (String) -> Bool) -> (Int, Int) {
      let members = named.filter { belongs($0.key) }
      return (
        members.reduce(0) { $0 + $1.parameter.count },
        members.filter { !$0.parameter.isFrozen }.reduce(0) { $0 + $1.parameter.count }
      )
    }
    var slots: [Slot] = []
    let backbone = counts { $0.hasPrefix("backbone.") }
    slots.append(
      Slot(
        name: "backbone", type: detector.slotTypes["backbone"] ?? "?", parameters: backbone.0, trainable: backbone.1,
        outputs: detector.backbone.outputSpecs))
    if let neck = detector.neck {
      let neckCounts = counts { $0.hasPrefix("neck.") }
      slots.append(
        Slot(
          name: "neck", type: detector.slotTypes["neck"] ?? "?", parameters: neckCounts.0, trainable: neckCounts.1,
          outputs: neck.outputSpecs))
    }
    let text = counts { $0.hasPrefix("text_encoder.") }
    slots.append(
      Slot(
        name: "text_encoder", type: detector.slotTypes["text_encoder"] ?? "?", parameters: text.0, trainable: text.1,
        outputs: [], hiddenSize: detector.textEncoder.hiddenSize))
    if let fusionType = detector.slotTypes["fusion"] {
      let fusion = counts(FusionLayout.isFusionParameter)
      slots.append(Slot(name: "fusion", type: fusionType, parameters: fusion.0, trainable: fusion.1, outputs: []))
    }
    let head = counts { $0.hasPrefix("head.") && !FusionLayout.isFusionParameter($0) }
    slots.append(
      Slot(name: "head", type: detector.slotTypes["head"] ?? "?", parameters: head.0, trainable: head.1, outputs: []))
    if detector.promptOffset != nil {
      let offset = counts { $0 == "prompt_offset" }
      slots.append(Slot(name: "prompt", type: "offset", parameters: offset.0, trainable: offset.1, outputs: []))
    }
    self.slots = slots
    totalParameters = detector.parameterCount
    trainableParameters = detector.trainableParameterCount
    tree = detector.description
  }

  /// The tree, a per-slot table and the output specs.
  public var text: String {
    var lines = [tree, "", "slot          type              parameters   trainable      frozen  outputs"]
    for slot in slots {
      let outputs = slot.hiddenSize.map { "hidden \($0)" } ?? slot.outputs.map(\.description).joined(separator: " ")
      lines.append(
        slot.name.padding(toLength: 14, withPad: " ", startingAt: 0)
          + slot.type.padding(toLength: 16, withPad: " ", startingAt: 0)
          + String(format: "%12d%12d%12d  ", slot.parameters, slot.trainable, slot.parameters - slot.trainable)
          + outputs)
      lines[lines.count - 1] = lines[lines.count - 1].trimmingCharacters(in: .whitespaces)
    }
    lines.append(
      "total".padding(toLength: 30, withPad: " ", startingAt: 0)
        + String(format: "%12d%12d%12d", totalParameters, trainableParameters, totalParameters - trainableParameters))
    return lines.joined(separator: "\n")
  }

  public var json: String {
    var slotObjects: [String: Any] = [:]
    for slot in slots {
      var object: [String: Any] = [
        "type": slot.type, "parameters": slot.parameters, "trainable": slot.trainable,
        "outputs": slot.outputs.map { ["channels": $0.channels, "stride": $0.stride] },
      ]
      if let hidden = slot.hiddenSize { object["hidden_size"] = hidden }
      slotObjects[slot.name] = object
    }
    let object: [String: Any] = [
      "total_parameters": totalParameters, "trainable_parameters": trainableParameters, "slots": slotObjects,
      "tree": tree,
    ]
    let data = try! JSONSerialization.data(withJSONObject: object, options: [.prettyPrinted, .sortedKeys])
    return String(data: data, encoding: .utf8)!
  }
}
