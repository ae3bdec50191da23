using FedMM.Learning.Training;
using static TorchSharp.torch;

namespace FedMM.Learning.Tests.Training;

[Trait("Category", "Unit")]
public class ClassificationMetricsTests
{
    [Fact]
    public void MacroF1AveragesOverClassesPresentInTheLabels()
    {
        long[] labels = [0, 0, 1, 1, 1];
        long[] predicted = [0, 1, 1, 1, 2];
        // class 0: tp1 fp0 fn1 → 2/3; class 1: tp2 fp1 fn1 → 4/6; class 2 absent from labels.
        Assert.Equal((2.0 / 3 + 4.0 / 6) / 2, ClassificationMetrics.MacroF1(predicted, labels), 10);
        Assert.Equal(0.6, ClassificationMetrics.Accuracy(predicted, labels), 10);
    }

    [Fact]
    public void ComputeMatchesCrossEntropyAndArgmax()
    {
        var logits = tensor(new float[,] { { 2, 0 }, { 0, 1 }, { 3, 0 } });
        var metrics = ClassificationMetrics.Compute(logits, [0, 1, 1]);
        double expected = (Math.Log(1 + Math.Exp(-2)) + Math.Log(1 + Math.Exp(-1)) + Math.Log(1 + Math.Exp(3))) / 3;
        Assert.Equal(expected, metrics.Loss, 5);
        Assert.Equal(2.0 / 3, metrics.Accuracy, 10);
        Assert.Throws<ArgumentException>(() => ClassificationMetrics.Compute(logits, [0, 1]));
    }
}
