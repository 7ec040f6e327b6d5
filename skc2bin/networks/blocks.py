"""The one building block shared by the MLP backbone and every head."""

from torch import nn

__all__ = ["mlp_layers"]


def mlp_layers(widths):
    """Layers of an MLP: ``Linear -> BatchNorm1d -> ReLU`` per hidden width,
    then a plain ``Linear`` output layer.

    Parameters
    ----------
    widths : sequence of int
        Input width, hidden widths, output width (at least two entries).

    Returns
    -------
    layers : list of torch.nn.Module
        For ``nn.Sequential(*layers)``: parameter names ``0.weight``,
        ``1.weight``, ... follow this order, which saved model files rely on.

    Examples
    --------
    >>> from skc2bin.networks.blocks import mlp_layers
    >>> [type(m).__name__ for m in mlp_layers([4, 8, 2])]
    ['Linear', 'BatchNorm1d', 'ReLU', 'Linear']
    """
    widths = [int(w) for w in widths]
    if len(widths) < 2:
        raise ValueError(f"An MLP needs an input and an output width, got {widths}.")
    layers = []
    for w_in, w_out in zip(widths[:-2], widths[1:-1]):
        layers += [nn.Linear(w_in, w_out), nn.BatchNorm1d(w_out), nn.ReLU(inplace=True)]
    layers.append(nn.Linear(widths[-2], widths[-1]))
    return layers
