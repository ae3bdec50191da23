using FedMM.Contracts;
using FedMM.Learning.Aggregation;
using TorchSharp;

namespace FedMM.Learning.Tests.Aggregation;

[Trait("Category", "Unit")]
public class WeightedAverageTests
{
    private static torch.Tensor T(params float[] values) => torch.tensor(values);

    [Fact]
    public void AveragesEachGroupWithItsOwnWeights()
    {
        var sites = new[]
        {
            new SiteTensors("img", new Dictionary<string, torch.Tensor> { ["image_adapter.w"] = T(1, 2), ["fusion.b"] = T(10) }),
            new SiteTensors("txt", new Dictionary<string, torch.Tensor> { ["text_adapter.w"] = T(4, 4, 4), ["fusion.b"] = T(20) }),
            new SiteTensors("both", new Dictionary<string, torch.Tensor> { ["image_adapter.w"] = T(3, 6), ["text_adapter.w"] = T(0, 8, 2), ["fusion.b"] = T(40) }),
        };
        GroupWeight W(string c, ParameterGroup g, double w) => new(c, g, 1, 0, w);
        var weights = new[]
        {
            W("img", ParameterGroup.Image, 0.25), W("both", ParameterGroup.Image, 0.75),
            W("txt", ParameterGroup.Text, 0.5), W("both", ParameterGroup.Text, 0.5),
            W("img", ParameterGroup.Fusion, 0.5), W("txt", ParameterGroup.Fusion, 0.25), W("both", ParameterGroup.Fusion, 0.25),
        };
        var result = WeightedAverage.Average(sites, weights);

        Assert.Equal(new[] { 2.5f, 5f }, result["image_adapter.w"].data<float>().ToArray());
        Assert.Equal(new[] { 2f, 6f, 3f }, result["text_adapter.w"].data<float>().ToArray());
        Assert.Equal(new[] { 20f }, result["fusion.b"].data<float>().ToArray());
        Assert.Equal(3, result.Count);
    }

    [Fact]
    public void ATextOnlySiteNeverTouchesTheImageAdapter()
    {
        var image = new Dictionary<string, torch.Tensor> { ["image_adapter.w"] = T(1, 1), ["fusion.b"] = T(0) };
        var text = new Dictionary<string, torch.Tensor> { ["text_adapter.w"] = T(1e6f, 1e6f), ["fusion.b"] = T(1) };
        var weights = ContributionWeighting.Compute(
            [new Contributor("img", 10, 0.5, new HashSet<ParameterGroup> { ParameterGroup.Image, ParameterGroup.Fusion }),
             new Contributor("txt", 1000, 0.9, new HashSet<ParameterGroup> { ParameterGroup.Text, ParameterGroup.Fusion })],
            Weighting.Contribution, 0.1);
        var result = WeightedAverage.Average([new SiteTensors("img", image), new SiteTensors("txt", text)], weights);
        Assert.Equal(new[] { 1f, 1f }, result["image_adapter.w"].data<float>().ToArray());
        Assert.Equal(new[] { 1e6f, 1e6f }, result["text_adapter.w"].data<float>().ToArray());
    }

    [Fact]
    public void MismatchedShapesNameClientAndTensor()
    {
        var sites = new[]
        {
            new SiteTensors("a", new Dictionary<string, torch.Tensor> { ["fusion.w"] = torch.zeros(2, 3) }),
            new SiteTensors("b", new Dictionary<string, torch.Tensor> { ["fusion.w"] = torch.zeros(3, 2) }),
        };
        var e = Assert.Throws<ArgumentException>(() => WeightedAverage.Average(sites, []));
        Assert.Contains("Client 'b' tensor 'fusion.w' has shape [3, 2] but client 'a' uploaded [2, 3]", e.Message);
    }

    [Fact]
    public void ASiteMissingATensorOfItsGroupIsRefused()
    {
        var sites = new[]
        {
            new SiteTensors("a", new Dictionary<string, torch.Tensor> { ["fusion.w"] = T(1), ["fusion.b"] = T(1) }),
            new SiteTensors("b", new Dictionary<string, torch.Tensor> { ["fusion.w"] = T(1) }),
        };
        var e = Assert.Throws<ArgumentException>(() => WeightedAverage.Average(sites, []));
        Assert.Contains("Client 'b'", e.Message);
        Assert.Contains("'fusion.b'", e.Message);
    }

    [Fact]
    public void NamesOutsideTheGroupsAndNonF32AreRefused()
    {
        var stray = new[] { new SiteTensors("a", new Dictionary<string, torch.Tensor> { ["encoder.w"] = T(1) }) };
        Assert.Contains("'encoder.w'", Assert.Throws<ArgumentException>(() => WeightedAverage.Average(stray, [])).Message);
        var f64 = new[] { new SiteTensors("a", new Dictionary<string, torch.Tensor> { ["fusion.w"] = torch.zeros(1, torch.float64) }) };
        Assert.Contains("Float64", Assert.Throws<ArgumentException>(() => WeightedAverage.Average(f64, [])).Message);
    }
}
