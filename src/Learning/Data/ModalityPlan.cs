using FedMM.Contracts;
using FedMM.Learning.Federation;

namespace FedMM.Learning.Data;

/// <summary>Which modalities each site of a generated or imported federation holds.</summary>
public static class ModalityPlan
{
    /// <summary>
    /// The first <paramref name="imageOnly"/> sites hold images only, the next
    /// <paramref name="textOnly"/> text only, the rest both (default federation: 2 / 2 / 6).
    /// </summary>
    public static Modalities[] Assign(int sites, int imageOnly, int textOnly)
    {
        if (sites <= 0) throw new ArgumentOutOfRangeException(nameof(sites), sites, "Need at least one site.");
        if (imageOnly < 0 || textOnly < 0 || imageOnly + textOnly > sites)
            throw new ArgumentException($"{imageOnly} image-only + {textOnly} text-only sites do not fit in {sites} sites.");
        return Enumerable.Range(0, sites)
            .Select(s => s < imageOnly ? Modalities.Image : s < imageOnly + textOnly ? Modalities.Text : Modalities.Both)
            .ToArray();
    }
}
