"""The training peer: the same char-rnn in PyTorch, for a side-by-side figure with `make bench`.

Not part of the project (nothing here needs PyTorch): install torch in a private virtual
environment outside the checkout and run

    kernrnn prep --corpus ../shared/corpus/mozart > /tmp/mozart.txt
    python examples/peer_pytorch.py /tmp/mozart.txt [--layers 3] [--hidden 128] [--batch 50] \
        [--seq 50] [--iterations 60] [--threads 2]

It trains the network `kernrnn train` trains (an LSTM of `layers` x `hidden` over one-hot
characters, a linear output layer, cross-entropy, Adam at 2e-3 with each gradient element clipped
to +-5, the hidden state carried from batch to batch along `batch` streams of the text) and prints
characters per second over the iterations after a warm-up, as one line of JSON.
"""

import argparse
import json
import time

import torch


def main():
    p = argparse.ArgumentParser()
    p.add_argument("text")
    p.add_argument("--layers", type=int, default=3)
    p.add_argument("--hidden", type=int, default=128)
    p.add_argument("--batch", type=int, default=50)
    p.add_argument("--seq", type=int, default=50)
    p.add_argument("--iterations", type=int, default=60)
    p.add_argument("--warmup", type=int, default=5)
    p.add_argument("--threads", type=int, default=2)
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(42)
    text = open(a.text, encoding="utf-8").read()
    vocab = sorted(set(text))
    index = {c: i for i, c in enumerate(vocab)}
    data = torch.tensor([index[c] for c in text], dtype=torch.long)
    v = len(vocab)
    # the batch streams, as char-rnn (and kernrnn) cut the text
    per = (len(data) - 1) // a.batch
    streams = data[: a.batch * per].view(a.batch, per)
    targets = data[1 : a.batch * per + 1].view(a.batch, per)

    class CharLstm(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.lstm = torch.nn.LSTM(v, a.hidden, a.layers)
            self.head = torch.nn.Linear(a.hidden, v)
            for w in self.parameters():
                torch.nn.init.uniform_(w, -0.08, 0.08)

        def forward(self, x, state):
            one_hot = torch.nn.functional.one_hot(x, v).float()
            out, state = self.lstm(one_hot, state)
            return self.head(out), state

    model = CharLstm()
    optim = torch.optim.Adam(model.parameters(), lr=2e-3)
    state = None
    steps = per // a.seq
    start = None
    for it in range(a.iterations + a.warmup):
        if it == a.warmup:
            start = time.perf_counter()
        k = it % steps
        x = streams[:, k * a.seq : (k + 1) * a.seq].t().contiguous()
        y = targets[:, k * a.seq : (k + 1) * a.seq].t().contiguous()
        logits, state = model(x, state)
        state = tuple(s.detach() for s in state)
        loss = torch.nn.functional.cross_entropy(logits.view(-1, v), y.view(-1))
        optim.zero_grad()
        loss.backward()
        for w in model.parameters():
            w.grad.clamp_(-5, 5)
        optim.step()
    seconds = time.perf_counter() - start
    chars = a.iterations * a.batch * a.seq
    print(json.dumps({
        "peer": f"PyTorch {torch.__version__}",
        "threads": a.threads,
        "layers": a.layers,
        "hidden": a.hidden,
        "batch": a.batch,
        "seq": a.seq,
        "iterations": a.iterations,
        "chars_per_second": round(chars / seconds),
        "final_loss": round(loss.item(), 4),
    }))


if __name__ == "__main__":
    main()
