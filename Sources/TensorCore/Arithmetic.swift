/// The four arithmetic operators with broadcasting, and negation. Backward rules sit beside each forward rule.
extension Tensor {
  public static func + (lhs: Tensor, rhs: Tensor) -> Tensor {
    let output = broadcastBinary(lhs, rhs, op: "add", AddKernel.self)
    return record("add", output: output, inputs: [lhs, rhs]) { grad in
      [grad.sum(toShape: lhs.shape), grad.sum(toShape: rhs.shape)]
    }
  }

  public static func - (lhs: Tensor, rhs: Tensor) -> Tensor {
    let output = broadcastBinary(lhs, rhs, op: "sub", SubtractKernel.self)
    return record("sub", output: output, inputs: [lhs, rhs]) { grad in
      [grad.sum(toShape: lhs.shape), grad.mapValues { -$0 }.sum(toShape: rhs.shape)]
    }
  }

  public static func * (lhs: Tensor, rhs: Tensor) -> Tensor {
    let output = broadcastBinary(lhs, rhs, op: "mul", MultiplyKernel.self)
    return record("mul", output: output, inputs: [lhs, rhs]) { grad in
      [
        lhs.requiresGrad ? (grad * rhs).sum(toShape: lhs.shape) : nil,
        rhs.requiresGrad ? (grad * lhs).sum(toShape: rhs.shape) : nil,
      ]
    }
  }

  public static func / (lhs: Tensor, rhs: Tensor) -> Tensor {
    let output = broadcastBinary(lhs, rhs, op: "div", DivideKernel.self)
    return record("div", output: output, inputs: [lhs, rhs]) { grad in
      [
        lhs.requiresGrad ? (grad / rhs).sum(toShape: lhs.shape) : nil,
        rhs.requiresGrad ? (grad * output / rhs).mapValues { -$0 }.sum(toShape: rhs.shape) : nil,
      ]
    }
  }

  public static prefix func - (operand: Tensor) -> Tensor {
    let output = operand.mapValues { -$0 }
    return record("neg", output: output, inputs: [operand]) { grad in [grad.mapValues { -$0 }] }
  }

  public static func + (lhs: Tensor, rhs: Float) -> Tensor {
    let output = lhs.mapValues { $0 + rhs }
    return record("add_scalar", output: output, inputs: [lhs]) { grad in [grad] }
  }

  public static func - (lhs: Tensor, rhs: Float) -> Tensor { lhs + (-rhs) }

  public static func * (lhs: Tensor, rhs: Float) -> Tensor {
    let output = lhs.mapValues { $0 * rhs }
    return record("mul_scalar", output: output, inputs: [lhs]) { grad in [grad.mapValues { $0 * rhs }] }
  }

  public static func / (lhs: Tensor, rhs: Float) -> Tensor { lhs * (1 / rhs) }

  public static func + (lhs: Float, rhs: Tensor) -> Tensor { rhs + lhs }
  public static func * (lhs: Float, rhs: Tensor) -> Tensor { rhs * lhs }

  public static func - (lhs: Float, rhs: Tensor) -> Tensor {
    let output = rhs.mapValues { lhs - $0 }
    return record("rsub_scalar", output: output, inputs: [rhs]) { grad in [grad.mapValues { -$0 }] }
  }

  public static func / (lhs: Float, rhs: Tensor) -> Tensor {
    let output = rhs.mapValues { lhs / $0 }
    return record("rdiv_scalar", output: output, inputs: [rhs]) { grad in
      [broadcastBinary(grad, output, op: "rdiv_scalar_backward") { g, y in -g * y * y / lhs }]
    }
  }

  public static func += (lhs: inout Tensor, rhs: Tensor) { lhs = lhs + rhs }
  public static func -= (lhs: inout Tensor, rhs: Tensor) { lhs = lhs - rhs }
  public static func *= (lhs: inout Tensor, rhs: Tensor) { lhs = lhs * rhs }
}
