"""General English word lists the cache verifier uses: no list here is tied to a data set.

Stopwords and request framing, negations, opposite pairs, number words, units, direction
markers and question words. Everything is lower case.
"""

from __future__ import annotations

# Function words, plus the words people wrap a request in ("can you explain", "give me
# tips for", "what's the best way to"): they change how a question is put, not its answer.
STOPWORDS = frozenset(
    """
    a an the this that these those it its it's i me my mine we us our you your yours he him
    his she her they them their there here what which who whom whose when where why how
    is am are was were be been being do does did doing done have has had having will would
    shall should can could may might must of in on at by for with about as into onto from
    to up out over under again further then once so than too very just also only really
    and or but if because while until both each either any some all such own same other
    another more most many much no nor not few s t ll ve re d m o y
    please kindly thanks hi hello hey ok okay
    explain explanation define definition describe description meaning mean means tell
    know show give gives let lets need needs want wants like wish
    help way ways method steps step tips tip advice guide tutorial possible able
    say said ask turn switch something anything everything thing things stuff
    simple simply quick quickly briefly brief short summary summarize overview
    """.split()
)

# Words that flip a statement. "without" is an opposite of "with" instead.
# "non" stands alone once "non-leap" is split at its hyphen: a negating prefix as a particle.
NEGATIONS = frozenset(
    "not no never none nothing nobody nowhere neither nor cannot non".split()
)

# Opposites, one group a line: any word left of "|" is the opposite of any word right of it,
# and words on the same side stand in for each other ("reduce"/"lower"). Compared in all
# inflections ("enabled"/"disabling"); prefixed opposites (lock/unlock) are found by rule.
_OPPOSITE_GROUPS = """
increase raise grow boost maximize rise expand | decrease lower reduce shrink minimize decline cut
improve better | worsen worse
more | less fewer
enable activate on | disable deactivate off
allow permit unblock accept approve | block deny forbid prevent reject decline
show display unhide | hide
add insert create install attach include append | remove delete drop uninstall detach exclude
add create build | destroy erase
open start begin launch | close stop end finish quit terminate
buy purchase | sell
eat drink consume take use | avoid skip quit
start begin | stop quit
accept | refuse
remember | forget
attack | defend
borrow | repay
find | lose
love | hate
include | exclude
win gain | lose
up | down
in | out
to | from
upload | download
import | export
input | output
login | logout
first | last
push | pull
send | receive
give | take
lend | borrow
profit | loss
join | leave
with | without
before | after
above | below
over | under
most | least
max maximum | min minimum
big large huge biggest largest | small tiny little smallest
high highest | low lowest
long longest | short shortest
fast faster fastest quick | slow slower slowest
hot warm | cold cool
heavy | light
light bright | dark
cheap cheapest | expensive
good best | bad worst
easy | hard difficult
early earliest | late latest
old oldest | new newest
old | young
yesterday | tomorrow
today now current | yesterday tomorrow
past | future
previous | next
last | next
inbound incoming | outbound outgoing
internal | external
public | private
upstream | downstream
left | right
north | south
east | west
top | bottom
front | back
inside | outside
plus | minus
ascending | descending
arrive arrival | depart departure
true | false
success succeed pass | failure fail
agree | disagree
like love | dislike hate
hire | fire
positive | negative
advantage benefit pro strength | disadvantage drawback risk con weakness
safe | dangerous
rich | poor
wet | dry
empty | full
day | night
morning | evening
summer | winter
male man boy husband father | female woman girl wife mother
buy | rent
encrypt encode | decrypt decode
inhale | exhale
simple simply brief briefly short summary overview | detailed detail thorough comprehensive depth
"""
# Words that stand in for each other in questions ("update" my password = "change" it).
_SYNONYM_GROUPS = """
change update modify edit alter
fix repair solve resolve troubleshoot
error issue problem bug
symptom sign
picture photo image
movie film
car vehicle automobile
begin start
finish end
big large
small little tiny
fast quick rapid
buy purchase order
price cost fee
help assist support
choose pick select
"""
SYNONYM_GROUPS = tuple(frozenset(line.split()) for line in _SYNONYM_GROUPS.strip().splitlines())
OPPOSITE_GROUPS = tuple(
    (frozenset(left.split()), frozenset(right.split()))
    for left, right in (line.split("|") for line in _OPPOSITE_GROUPS.strip().splitlines())
)

# "lock"/"unlock", "connect"/"disconnect", "valid"/"invalid". The in-/im-/il-/ir- forms only
# for longer stems, where they are a negation and not a different word ("put"/"input").
NEGATING_PREFIXES = ("un", "dis", "de", "non", "anti", "mis")
NEGATING_PREFIXES_LONG_STEM = ("in", "im", "il", "ir")
# Prefixes that swap for the opposite on the same stem: in/decrease, im/export, up/download.
OPPOSITE_PREFIXES = (
    ("en", "de"),
    ("in", "de"),
    ("im", "ex"),
    ("in", "ex"),
    ("in", "out"),
    ("up", "down"),
    ("on", "off"),
    ("pre", "post"),
    ("over", "under"),
    ("max", "min"),
    ("asc", "desc"),
)

_ONES = "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen"
_TEENS = "fifteen sixteen seventeen eighteen nineteen"
_TENS = "twenty thirty forty fifty sixty seventy eighty ninety"
CARDINAL_WORDS = {
    **{word: value for value, word in enumerate(f"{_ONES} {_TEENS}".split())},
    **{word: 20 + 10 * value for value, word in enumerate(_TENS.split())},
    "dozen": 12,
}
_ORDINALS = "first second third fourth fifth sixth seventh eighth ninth tenth eleventh twelfth"
ORDINAL_WORDS = {
    **{word: value + 1 for value, word in enumerate(_ORDINALS.split())},
    "twentieth": 20,
    "thirtieth": 30,
    "hundredth": 100,
    "thousandth": 1000,
}
SCALE_WORDS = {
    "hundred": 100,
    "thousand": 1000,
    "million": 10**6,
    "billion": 10**9,
    "trillion": 10**12,
}
FRACTION_WORDS = {"half": 0.5, "quarter": 0.25, "third": 1 / 3}

# Units, currencies and calendar words behave like numbers: "5 miles" != "5 km".
QUANTITY_WORDS = frozenset(
    """
    percent percentage % $ € £ ¥ usd eur gbp jpy dollar dollars euro euros pound pounds yen
    cent cents mm cm km meter meters metre metres kilometer kilometers kilometre kilometres
    mile miles inch inches foot feet yard yards mg kg gram grams kilogram kilograms ounce
    ounces oz lb lbs ton tons tonne tonnes liter liters litre litres ml gallon gallons
    celsius fahrenheit kelvin degree degrees seconds minute minutes hour hours
    day days week weeks month months year years decade decades century centuries
    kb mb gb tb kbps mbps gbps hz khz mhz ghz kw kwh watt watts volt volts mph kph
    january february march april june july august september october november december
    monday tuesday wednesday thursday friday saturday sunday
    today tonight yesterday tomorrow
    """.split()
)

# Words whose relative order carries direction: "from A to B", "A than B", "X per Y".
DIRECTION_MARKERS = ("to", "into", "from", "than", "per", "towards", "toward", "onto")

AUXILIARIES = frozenset(
    "is are was were am do does did can could will would should shall has have had may "
    "might must".split()
)
REQUEST_VERBS = frozenset(
    "tell explain give show help describe list recommend suggest write make find share "
    "provide summarize summarise define translate walk teach".split()
)
# "what year", "which city", "what causes": a wh-word plus one of these names the kind of
# answer, like a dedicated wh-word would.
QUESTION_NOUNS = {
    "time": frozenset("year years date day month time century decade era".split()),
    "place": frozenset("place location country city town region continent address".split()),
    "person": frozenset("person people author inventor founder".split()),
    "reason": frozenset("cause causes caused reason reasons makes made".split()),
    "quantity": frozenset("price cost number amount percentage size".split()),
}
QUESTION_WORDS = {
    "who": "person",
    "whom": "person",
    "whose": "person",
    "when": "time",
    "where": "place",
    "why": "reason",
}
