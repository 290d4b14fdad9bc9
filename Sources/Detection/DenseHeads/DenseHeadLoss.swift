import DataParallel
import NN
import TensorCore

/// GLIP's dense-head training loss, given where the locations are, which are positive, and how boxes are coded.
///
/// - `loss_tokens`: sigmoid focal loss (α 0.25, γ 2) of every location against the tokens (or classes) of its box's
///   phrase, over the prompt's real tokens (padding and ignored locations weigh 0), divided by the positives.
/// - `loss_giou`: 1 − GIoU between decoded and target boxes of the positives, weighted by their centerness targets
///   and divided by the targets' sum, × 2 (GLIP's `reg_loss_weight`); without centerness, the mean × 2.
/// - `loss_centerness`: BCE of the centerness branch against the targets, divided by the positives.
///
/// The positives and the centerness sum are counted over the whole batch: in data-parallel training over every rank's
/// share (summed over `Collectives.communicator`, then divided by the ranks, as GLIP's `reduce_sum(num_pos) /
/// num_gpus`), so the averaged gradients are those of the whole batch in one process.
public struct DenseHeadLoss {
  public let locations: any LocationScheme
  public let assigner: any TargetAssigner
  public let coder: any BoxCoder
  /// The logits score the prompt's tokens (padding masked out through the text mask), not fixed classes.
  public let scoresTokens: Bool

  public init(locations: any LocationScheme, assigner: any TargetAssigner, coder: any BoxCoder, scoresTokens: Bool) {
    self.locations = locations
    self.assigner = assigner
    self.coder = coder
    self.scoresTokens = scoresTokens
  }

  /// The positives of a batch, flattened over images: rows of the concatenated per-image outputs.
  struct Positives {
    var rows: [Int] = []
    var boxTargets: [Float] = []
    var references: [Float] = []
    var centernessTargets: [Float] = []
    var count: Int { rows.count }
  }

  /// Named loss terms of `outputs` (logits `[N, L, T]` per level) against one target per image.
  public func callAsFunction(_ outputs: HeadOutputs, targets: [GroundingTarget], text: TextFeatures)
    -> [String: Tensor]
  {
    let grid = LocationGrid(outputs, scheme: locations)
    let tokenCount = outputs.logits[0].shape[2]
    var classTargets: [Tensor] = [], classWeights: [Tensor] = []
    var positives = Positives()
    var logits: [Tensor] = [], regressions: [Tensor] = [], centerness: [Tensor] = []
    for (image, target) in targets.enumerated() {
      precondition(
        target.positiveMap.shape.last == tokenCount || target.boxes.isEmpty,
        "dense head: positive map \(target.positiveMap.shape) does not match \(tokenCount) logits per location")
      let assigned = assigner.assign(target, grid: grid).enumerated().map { location, assignment in
        target.isValid(reference: grid.references[location]) ? assignment : .negative
      }
      classTargets.append(
        classTargetRows(assigned, target: target, image: image, grid: grid, tokenCount: tokenCount, into: &positives))
      classWeights.append(classWeight(assigned, text: text, image: image, tokenCount: tokenCount))
      func rowsOf(_ level: Tensor, width: Int) -> Tensor {
        level.slice(axis: 0, start: image, end: image + 1).reshaped([width, -1]).transposed()
      }
      logits += outputs.logits.map { $0.slice(axis: 0, start: image, end: image + 1).reshaped([-1, tokenCount]) }
      regressions += outputs.boxRegression.map { rowsOf($0, width: 4) }
      centerness += outputs.centerness.map { rowsOf($0, width: 1).reshaped([-1]) }
    }
    let (normaliser, centernessNormaliser) = globalNormalisers(positives)
    let tokenLoss =
      DetectionLoss.sigmoidFocal(
        Tensor.concat(logits, axis: 0), targets: Tensor.concat(classTargets, axis: 0),
        weight: Tensor.concat(classWeights, axis: 0)) / normaliser
    let allRegressions = Tensor.concat(regressions, axis: 0)
    let allCenterness = centerness.isEmpty ? nil : Tensor.concat(centerness, axis: 0)
    guard positives.count > 0 else {
      let zero = (allRegressions.sum() + (allCenterness?.sum() ?? Tensor(scalar: 0))) * 0
      var terms = ["loss_tokens": tokenLoss, "loss_giou": zero]
      if allCenterness != nil { terms["loss_centerness"] = zero }
      return terms
    }
    return boxTerms(
      positives, regressions: allRegressions, centerness: allCenterness, normaliser: normaliser,
      centernessNormaliser: centernessNormaliser
    ).merging(["loss_tokens": tokenLoss]) { $1 }
  }

  /// The positive count (at least 1) and the centerness-target sum over the whole batch, divided by the ranks that
  /// share it. Every rank calls this once per loss, positives or not.
  func globalNormalisers(_ positives: Positives) -> (positives: Float, centerness: Float) {
    let communicator = Collectives.communicator
    var totals = [Float(positives.count), positives.centernessTargets.reduce(0, +)]
    communicator.sum(&totals)
    let ranks = Float(communicator.size)
    return (max(totals[0], 1) / ranks, max(totals[1], 1e-6) / ranks)
  }

  /// The classification targets `[L, T]` of one image (its box's positive-map row at each positive location), and
  /// its positives appended to `positives`.
  func classTargetRows(
    _ assigned: [LocationTarget], target: GroundingTarget, image: Int, grid: LocationGrid, tokenCount: Int,
    into positives: inout Positives
  ) -> Tensor {
    var rows = [Float](repeating: 0, count: grid.count * tokenCount)
    for (location, assignment) in assigned.enumerated() where assignment.box >= 0 {
      for token in 0..<tokenCount {
        rows[location * tokenCount + token] = target.positiveMap[flat: assignment.box * tokenCount + token]
      }
      positives.rows.append(image * grid.count + location)
      positives.boxTargets += target.boxes[assignment.box]
      positives.references += grid.references[location]
      positives.centernessTargets.append(assignment.centerness)
    }
    return Tensor(shape: [grid.count, tokenCount], values: rows)
  }

  /// The focal-loss weight `[L, T]` of one image: 0 at padding tokens and ignored locations, 1 elsewhere.
  func classWeight(_ assigned: [LocationTarget], text: TextFeatures, image: Int, tokenCount: Int) -> Tensor {
    let counted = Tensor(shape: [assigned.count, 1], values: assigned.map { $0.ignored ? 0 : 1 })
    let mask =
      scoresTokens
      ? text.mask.slice(axis: 0, start: image, end: image + 1).reshaped([1, tokenCount]) : .ones([1, tokenCount])
    return mask.expanded(to: [assigned.count, tokenCount]) * counted
  }

  /// `loss_giou` and, with a centerness branch, `loss_centerness`.
  func boxTerms(
    _ positives: Positives, regressions: Tensor, centerness: Tensor?, normaliser: Float, centernessNormaliser: Float
  ) -> [String: Tensor] {
    let rows = Tensor(positives.rows.map(Float.init))
    let predicted = coder.decode(
      regressions.indexSelect(axis: 0, indices: rows),
      references: Tensor(shape: [positives.count, 4], values: positives.references))
    let giou = DetectionLoss.boxGIoU(predicted, Tensor(shape: [positives.count, 4], values: positives.boxTargets))
    guard let centerness else { return ["loss_giou": giou.sum() / normaliser * 2] }
    let centernessTarget = Tensor(positives.centernessTargets)
    let giouLoss = (giou * centernessTarget).sum() / centernessNormaliser * 2
    let centernessLoss =
      Loss.binaryCrossEntropyWithLogits(
        centerness.indexSelect(axis: 0, indices: rows), centernessTarget, reduction: .sum) / normaliser
    return ["loss_giou": giouLoss, "loss_centerness": centernessLoss]
  }
}
