namespace FedMM.Learning.Data.Images;

/// <summary>How an image of any shape becomes a square S×S input.</summary>
public enum ImageResize
{
    /// <summary>Shorter side to S (aspect kept), then the central S×S: torchvision's Resize(S) + CenterCrop(S).</summary>
    CenterCrop,

    /// <summary>Both sides to S, aspect not kept; nothing is cut off.</summary>
    Stretch,
}
