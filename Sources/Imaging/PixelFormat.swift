/// How a backbone expects its pixels: channel order, value range, and normalisation statistics in that range.
public struct PixelFormat: Equatable, Sendable {
  public enum ChannelOrder: String, Sendable { case rgb, bgr }
  public var channelOrder: ChannelOrder
  /// 1 for values in 0…1, 255 for values in 0…255.
  public var scale: Float
  public var mean: [Float]
  public var std: [Float]

  public init(channelOrder: ChannelOrder, scale: Float, mean: [Float], std: [Float]) {
    precondition(mean.count == 3 && std.count == 3, "PixelFormat: mean and std need three values")
    self.channelOrder = channelOrder
    self.scale = scale
    self.mean = mean
    self.std = std
  }

  /// torchvision models: RGB in 0–1 with ImageNet statistics.
  public static let torchvision = PixelFormat(
    channelOrder: .rgb, scale: 1, mean: [0.485, 0.456, 0.406], std: [0.229, 0.224, 0.225])
  /// GLIP's Swin: BGR in 0–255 with GLIP's statistics.
  public static let glip = PixelFormat(
    channelOrder: .bgr, scale: 255, mean: [103.53, 116.28, 123.675], std: [57.375, 57.12, 58.395])
}
