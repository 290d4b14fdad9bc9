import Foundation
import TensorCore

/// How a loss reduces its per-element values.
public enum LossReduction: String, Sendable {
  case none, mean, sum
}

/// Loss functions with PyTorch's definitions; each is one fused kernel with its backward rule beside it.
public enum Loss {
  /// `F.binary_cross_entropy_with_logits`: max(x, 0) − x·z + log(1 + e^−|x|), optionally weighted.
  /// - Parameters: logits and targets of the same shape; `weight` broadcastable to it.
  public static func binaryCrossEntropyWithLogits(
    _ logits: Tensor, _ targets: Tensor, weight: Tensor? = nil, reduction: LossReduction = .mean
  ) -> Tensor {
    precondition(logits.shape == targets.shape, "BCE: logits \(logits.shape) and targets \(targets.shape) differ")
    let perElement = elementwise(logits, targets, op: "bce_with_logits") { x, z in
      let value = max(x, 0) - x * z + log1p(exp(-abs(x)))
      return (value, 1 / (1 + exp(-x)) - z, -x)
    }
    let weighted = weight.map { perElement * $0 } ?? perElement
    return reduce(weighted, reduction)
  }

  /// `F.l1_loss`: |x − y|.
  public static func l1(_ input: Tensor, _ target: Tensor, reduction: LossReduction = .mean) -> Tensor {
    precondition(input.shape == target.shape, "L1: input \(input.shape) and target \(target.shape) differ")
    let perElement = elementwise(input, target, op: "l1_loss") { x, y in
      let sign: Float = x > y ? 1 : (x < y ? -1 : 0)
      return (abs(x - y), sign, -sign)
    }
    return reduce(perElement, reduction)
  }

  /// `F.smooth_l1_loss`: 0.5·d²/β where |d| < β, else |d| − 0.5·β (plain L1 when β is 0).
  public static func smoothL1(
    _ input: Tensor, _ target: Tensor, beta: Float = 1, reduction: LossReduction = .mean
  ) -> Tensor {
    precondition(input.shape == target.shape, "smooth L1: input \(input.shape) and target \(target.shape) differ")
    let perElement = elementwise(input, target, op: "smooth_l1_loss") { x, y in
      let difference = x - y
      if abs(difference) < beta { return (0.5 * difference * difference / beta, difference / beta, -difference / beta) }
      let sign: Float = difference > 0 ? 1 : (difference < 0 ? -1 : 0)
      return (abs(difference) - 0.5 * beta, sign, -sign)
    }
    return reduce(perElement, reduction)
  }

  /// `F.cross_entropy` over class logits `[N, C]` with integer class targets `[N]` (stored as Float).
  /// Targets equal to `ignoreIndex` contribute nothing; the mean divides by the number of other targets.
  public static func crossEntropy(
    _ logits: Tensor, _ targets: Tensor, ignoreIndex: Int = -100, labelSmoothing: Float = 0,
    reduction: LossReduction = .mean
  ) -> Tensor {
    precondition(logits.rank == 2, "cross entropy: logits must be [N, C], got \(logits.shape)")
    let (rows, classes) = (logits.shape[0], logits.shape[1])
    precondition(targets.shape == [rows], "cross entropy: targets must be [\(rows)], got \(targets.shape)")
    let perRow = Tensor(uninitializedShape: [rows])
    let gradients = Tensor(uninitializedShape: logits.shape)
    let input = logits.data, labels = targets.data
    let (out, grad) = (perRow.mutableData, gradients.mutableData)
    for row in 0..<rows {
      let label = Int(labels[row])
      let rowLogits = input + row * classes, rowGrad = grad + row * classes
      guard label != ignoreIndex else {
        out[row] = 0
        rowGrad.update(repeating: 0, count: classes)
        continue
      }
      precondition(label >= 0 && label < classes, "cross entropy: target \(label) outside 0..<\(classes) at row \(row)")
      var maximum = -Float.infinity
      for column in 0..<classes { maximum = max(maximum, rowLogits[column]) }
      var total: Float = 0
      for column in 0..<classes { total += exp(rowLogits[column] - maximum) }
      let logTotal = log(total) + maximum
      var smoothTerm: Float = 0
      for column in 0..<classes {
        let probability = exp(rowLogits[column] - logTotal)
        let targetWeight = (column == label ? 1 - labelSmoothing : 0) + labelSmoothing / Float(classes)
        smoothTerm += targetWeight * (logTotal - rowLogits[column])
        rowGrad[column] = probability - targetWeight
      }
      out[row] = smoothTerm
    }
    let counted = (0..<rows).filter { Int(labels[$0]) != ignoreIndex }.count
    let perElement = Tensor.record("cross_entropy", output: perRow, inputs: [logits]) { outputGrad in
      [gradients * outputGrad.reshaped([rows, 1])]
    }
    switch reduction {
    case .none: return perElement
    case .sum: return perElement.sum()
    case .mean: return perElement.sum() * (1 / Float(max(counted, 1)))
    }
  }

  /// Applies `body` elementwise; it returns the value and its partial derivatives by the first and second input.
  private static func elementwise(
    _ first: Tensor, _ second: Tensor, op: String, _ body: (Float, Float) -> (Float, Float, Float)
  ) -> Tensor {
    let values = Tensor(uninitializedShape: first.shape)
    let firstPartials = Tensor(uninitializedShape: first.shape)
    let secondPartials = Tensor(uninitializedShape: first.shape)
    let (lhs, rhs) = (first.data, second.data)
    let (out, dFirst, dSecond) = (values.mutableData, firstPartials.mutableData, secondPartials.mutableData)
    for index in 0..<first.count {
      (out[index], dFirst[index], dSecond[index]) = body(lhs[index], rhs[index])
    }
    return Tensor.record(op, output: values, inputs: [first, second]) { outputGrad in
      [firstPartials * outputGrad, second.requiresGrad ? secondPartials * outputGrad : nil]
    }
  }

  private static func reduce(_ values: Tensor, _ reduction: LossReduction) -> Tensor {
    switch reduction {
    case .none: return values
    case .sum: return values.sum()
    case .mean: return values.mean()
    }
  }
}
