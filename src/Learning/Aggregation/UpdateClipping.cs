using TorchSharp;

namespace FedMM.Learning.Aggregation;

/// <summary>
/// Norm clipping of an update's difference to the global weights it started from: when
/// ‖w − g‖₂ over all of the site's tensors that the global package holds exceeds the clip norm c,
/// those tensors become g + (w − g) · c / ‖w − g‖₂. Bounds how far one site can move the average in a round.
/// </summary>
public static class UpdateClipping
{
    /// <summary>A site's weights after clipping, with the norm of its difference before clipping.</summary>
    /// <param name="Site">The clipped weights; the input itself when nothing was clipped.</param>
    /// <param name="Norm">‖w − g‖₂ before clipping.</param>
    /// <param name="Clipped">Whether the tensors were scaled (then <paramref name="Site"/> holds new tensors the caller owns).</param>
    public sealed record Result(SiteTensors Site, double Norm, bool Clipped);

    /// <summary>Clips <paramref name="site"/> to <paramref name="clipNorm"/> around <paramref name="global"/>; tensors without a global counterpart are kept as they are.</summary>
    /// <exception cref="ArgumentException">A clip norm that is not positive, or a tensor whose shape differs from the global one.</exception>
    public static Result Clip(SiteTensors site, IReadOnlyDictionary<string, torch.Tensor> global, double clipNorm)
    {
        ArgumentNullException.ThrowIfNull(site);
        ArgumentNullException.ThrowIfNull(global);
        if (!(clipNorm > 0) || !double.IsFinite(clipNorm)) throw new ArgumentException($"The clip norm must be positive and finite (was {clipNorm}).", nameof(clipNorm));
        double squares = 0;
        foreach (var (name, tensor) in site.Tensors)
        {
            if (!global.TryGetValue(name, out var reference)) continue;
            if (!reference.shape.SequenceEqual(tensor.shape))
                throw new ArgumentException($"Client '{site.ClientId}' tensor '{name}' has shape [{string.Join(", ", tensor.shape)}] but the global one [{string.Join(", ", reference.shape)}].", nameof(site));
            using var w = new DenseFloats(tensor);
            using var g = new DenseFloats(reference);
            var wv = w.Values;
            var gv = g.Values;
            for (int i = 0; i < wv.Length; i++)
            {
                double diff = (double)wv[i] - gv[i];
                squares += diff * diff;
            }
        }
        double norm = Math.Sqrt(squares);
        if (norm <= clipNorm) return new Result(site, norm, false);

        double scale = clipNorm / norm;
        var clipped = new Dictionary<string, torch.Tensor>(StringComparer.Ordinal);
        foreach (var (name, tensor) in site.Tensors)
        {
            if (!global.TryGetValue(name, out var reference))
            {
                clipped[name] = tensor.detach().cpu().clone();
                continue;
            }
            using var w = new DenseFloats(tensor);
            using var g = new DenseFloats(reference);
            var wv = w.Values;
            var gv = g.Values;
            var values = new float[wv.Length];
            for (int i = 0; i < values.Length; i++) values[i] = (float)(gv[i] + ((double)wv[i] - gv[i]) * scale);
            clipped[name] = torch.tensor(values, tensor.shape);
        }
        return new Result(new SiteTensors(site.ClientId, clipped), norm, true);
    }
}
