"""Rule-based extraction of profile statements from one user message.

This module owns the :class:`Statement` type and :func:`extract_statements`,
which the offline model and the rule-based memory step use to learn what the
user says about themself: name, location, job, likes and dislikes, answer
preferences and a few stable facts (age, diet, languages, pets...).

It is deliberately conservative: a missed statement costs little, a wrong one
("I'm tired" remembered as a name) is visible and annoying. Questions are
never extracted. Everything is precompiled and bounded (only the start of a
message is scanned, sentence by sentence) so arbitrary input cannot make it
slow or raise.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

KINDS = ("name", "location", "job", "like", "dislike", "preference", "fact")
SINGLE_VALUED = ("name", "location", "job")

# Bounds that keep every regex below linear-ish on hostile input.
_MAX_CHARS = 4000
_MAX_SENTENCE = 400
_MAX_ITEM_WORDS = 6


@dataclass(frozen=True)
class Statement:
    """One thing the user said about themself.

    ``key`` is the store key: single-valued kinds use the kind itself
    ("name", "location", "job"), so a later statement replaces the earlier one;
    multi-valued kinds add the item ("like:jazz"). ``replaces`` lists keys this
    statement makes obsolete (saying you dislike jazz forgets that you like it).
    """

    kind: str
    key: str
    value: str
    replaces: tuple[str, ...] = field(default=())


# --------------------------------------------------------------------------
# Vocabulary
# --------------------------------------------------------------------------


def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())


LANGUAGES = _words(
    """
    english french spanish german italian portuguese dutch swedish norwegian danish
    finnish polish czech slovak hungarian romanian greek turkish russian ukrainian
    arabic hebrew persian farsi hindi urdu bengali punjabi tamil telugu marathi
    chinese mandarin cantonese japanese korean vietnamese thai indonesian malay
    tagalog filipino swahili afrikaans catalan basque galician irish welsh latin
    esperanto croatian serbian bulgarian slovenian lithuanian latvian estonian
    icelandic
    """
)

_NATIONALITIES = _words(
    """
    american british canadian australian mexican brazilian argentinian chilean
    colombian peruvian cuban indian pakistani nigerian kenyan egyptian moroccan
    scottish swiss austrian belgian israeli iranian iraqi syrian lebanese
    european african asian european latino latina
    """
)

# Capitalised words after "I'm" that are not names.
_NOT_NAMES = (
    _words(
        """
        a an the not no so very really just also still here there back fine good
        great ok okay sorry sure glad happy sad tired sick ill busy ready done new
        old late early home hungry thirsty bored boring excited confused lost
        interested curious afraid scared worried stressed angry upset free alone
        married single divorced pregnant retired unemployed employed self-employed
        vegan vegetarian allergic from in at on with based living working going
        trying looking thinking using learning doing getting having making coming
        feeling studying writing reading moving leaving staying waiting hoping
        planning wondering asking building running gonna wanna about into over
        well better worse right wrong correct certain convinced aware able unable
        human male female man woman guy girl boy person adult kid child student
        teacher engineer developer doctor nurse myself yourself everyone someone
        nobody nothing something anything everything maybe perhaps probably
        definitely totally almost always never sometimes usually currently
        originally actually basically literally honestly seriously
        mr mrs ms dr sir madam please thanks hello hi hey bye yes yeah nope
        monday tuesday wednesday thursday friday saturday sunday today tomorrow
        tonight later soon now again anytime whatever anything crazy
        """
    )
    | LANGUAGES
    | _NATIONALITIES
)

_JOBS = _words(
    """
    accountant actor actress analyst animator architect artist assistant astronaut
    athlete attorney author baker banker barber barista bartender biologist
    blogger bookkeeper broker builder butcher carpenter cashier ceo cfo chef
    chemist cleaner clerk coach cook consultant contractor coo counselor counsellor
    cto dancer dentist designer detective developer dev dietitian diplomat director
    doctor driver economist editor electrician engineer entrepreneur farmer
    firefighter fisherman founder freelancer gardener geologist hairdresser
    historian illustrator influencer intern interpreter janitor journalist judge
    landscaper lawyer lecturer librarian linguist manager marketer mathematician
    mechanic midwife minister model musician nanny novelist nurse officer
    optician painter paralegal paramedic pastor pharmacist photographer physician
    physicist physiotherapist pilot plumber poet politician postdoc priest
    producer professor programmer psychiatrist psychologist rabbi realtor
    receptionist recruiter researcher sailor salesman saleswoman salesperson
    scientist secretary singer soldier statistician streamer student surgeon
    sysadmin tailor teacher technician therapist trader trainer translator tutor
    vet veterinarian waiter waitress welder writer youtuber sre admin
    administrator officer ranger guard pharmacologist cartographer
    """
)

# Nouns that end like jobs ("-er", "-ist"...) but describe something else.
_NOT_JOBS = _words(
    """
    fan lover beginner user member customer person fighter reader runner learner
    thinker dreamer worrier sleeper eater drinker smoker follower supporter
    subscriber player gamer speaker listener believer christian vegetarian
    parent resident citizen native introvert extrovert ambivert leader newbie
    novice owner sister brother mother father daughter partner lot bit little
    kind sort type fool liar winner loser master character cancer survivor
    """
)

_JOB_SUFFIXES = ("er", "or", "ist", "ician", "eer", "ant", "ologist", "grapher", "smith")

# Adjectives that turn "I'm a X" into a self-description, not a job.
_JUDGEMENTS = _words(
    "good bad great terrible decent awful lousy huge big total complete real true "
    "pretty quite very bit little lot kind sort"
)

# Objects of "I like ..." that are about the conversation, not a taste.
_NOT_ITEMS = _words(
    """
    it that this these those them him her you your yours what how when where which
    who why if there some any everything anything nothing something so how's idea
    answer answers reply response responses a an
    """
)

_TRAILING_FILLERS = re.compile(
    r"(?:\s+(?:a lot|a bunch|lots|very much|so much|too much|too|as well|also|really|"
    r"the most|more than anything|a little|quite a bit|these days|nowadays|now|"
    r"currently|at the moment|right now|lol|haha|tbh|honestly|by the way|btw|though|"
    r"anyway|please|actually|already|thanks|thank you|ok|okay|obviously))+$",
    re.IGNORECASE,
)

# --------------------------------------------------------------------------
# Sentence and clause splitting
# --------------------------------------------------------------------------

_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u200b-\u200f\u2028\u2029]")
_ABBREV = re.compile(r"\b(St|Mt|Dr|Mr|Mrs|Ms|Jr|Sr|Prof)\.(?=\s)")
# The two alternatives of the starred group are disjoint, so this is linear.
_SENTENCE = re.compile(r"(?:[^.!?…\n\r]|[.!?…](?![\s.!?…]|$))*(?:[.!?…]+|[\n\r]+|$)")
_CLAUSE_SPLIT = re.compile(
    r"\s*(?:;|:(?=\s)|\s[-–—]+\s|,?\s+but\s+|,?\s+and\s+(?=(?:i|i'm|im|i've|my|me|please|"
    r"call|you)\b)|,\s*(?=(?:i|i'm|im|i've|my|please|call|you\s+can|people|everyone|"
    r"friends|btw|by\s+the\s+way|also|oh|and|actually|what|what's|whats|where|who|how|do|"
    r"does|can|could|would|will|is|are)\b))\s*",
    re.IGNORECASE,
)
_FILLERS = re.compile(
    r"^(?:(?:hi|hello|hey|hiya|howdy|yo|greetings|oh|ok|okay|well|so|also|and|btw|"
    r"by the way|actually|fyi|just so you know|for the record|note that|"
    r"(?:please\s+)?remember that|(?:please\s+)?remember|anyway|anyways|yes|yeah|"
    r"yep|hmm+|um+|uh+|lol|haha|oh and|ah|good (?:morning|afternoon|evening)|"
    r"there|again|sorry)\b[\s,!.:-]*)+",
    re.IGNORECASE,
)
_GREETING = re.compile(
    r"^(?:hi|hello|hey|hiya|howdy|greetings|good (?:morning|afternoon|evening))\b", re.I
)
_QUESTION_START = re.compile(
    r"^(?:what|what's|whats|where|where's|wheres|who|who's|whos|whom|whose|why|when|"
    r"how|how's|which|do|does|did|am|is|are|was|were|can|could|would|will|should|"
    r"shall|have|has|may|might|isn't|aren't|doesn't|didn't|won't|wouldn't|"
    r"couldn't|tell me|remind me|guess)\b",
    re.IGNORECASE,
)
_REQUEST = re.compile(
    r"^(?:(?:can|could|would|will)\s+you\s+(?:please\s+)?|please\s+|pls\s+|kindly\s+)",
    re.IGNORECASE,
)
# Words before a match that make it hypothetical, negated or about someone else.
_BLOCKERS = re.compile(
    r"\b(?:if|unless|whether|wish|suppose|imagine|pretend|pretending|not|never|"
    r"don't|dont|doesn't|didn't|do not|no longer|used to|what if|said|says|"
    r"thinks|thought|he|she|they|my (?:friend|wife|husband|partner|mom|mum|dad|"
    r"mother|father|brother|sister|son|daughter|boss|colleague)\w*)\b",
    re.IGNORECASE,
)


def _clean(text: str) -> str:
    text = _CONTROL.sub(" ", text[:_MAX_CHARS])
    text = text.replace("’", "'").replace("‘", "'").replace("`", "'")
    return _ABBREV.sub(r"\1", text)


def _clauses(text: str) -> list[tuple[str, bool, bool]]:
    """Clauses of a message: (text, is a question, follows a greeting)."""
    out: list[tuple[str, bool, bool]] = []
    greeted = False
    for m in _SENTENCE.finditer(text):
        sentence = m.group(0)[:_MAX_SENTENCE].strip()
        if not sentence:
            continue
        asks = "?" in sentence[-3:]
        parts = [p for p in _CLAUSE_SPLIT.split(sentence) if p and p.strip()]
        for i, part in enumerate(parts):
            greeted = greeted or bool(_GREETING.match(part.strip()))
            clause = _FILLERS.sub("", part.strip()).strip().rstrip(" .!?…")
            if not clause:
                continue
            question = bool(_QUESTION_START.match(clause)) or (asks and i == len(parts) - 1)
            out.append((clause, question, greeted))
    return out


# --------------------------------------------------------------------------
# Value helpers
# --------------------------------------------------------------------------

_TRIM = " \t\"'“”«»()[]{}<>*_~.,!?;:…-–—"
_CUT = re.compile(
    r"\s+(?:because|since|as|but|so|when|whenever|while|though|although|which|who|"
    r"where|especially|except|unless|if|until|for (?:\d+|a|an|the|many|several|"
    r"about|over|almost|nearly|years|months|weeks|decades|ages|long|now|good)\b|"
    r"with (?:my|a|an|the|some|his|her|our)\b)\b.*$|"
    r"\s+and\s+(?:i|i'm|im|my|you|it)\b.*$|\s+(?:more|better|less)\s+than\b.*$|,\s*(?:i|i'm|my|you|it|but|so|and|which)\b.*$",
    re.IGNORECASE,
)
_INITIALS = re.compile(r"(?:^|\s)(?:[A-Z]\.)+[A-Z]$")
_WORD = re.compile(r"^[^\W\d_][\w'-]*$")
_ARTICLE = re.compile(r"^(?:the|a|an|some|my)\s+", re.IGNORECASE)
_SPACES = re.compile(r"\s+")


def _trim(value: str) -> str:
    value = _SPACES.sub(" ", value).strip(_TRIM)
    value = _TRAILING_FILLERS.sub("", value).strip(_TRIM)
    if _INITIALS.search(value):
        value += "."  # "the U.S." keeps its last dot
    return value


def _phrase(rest: str) -> str:
    """The noun phrase at the start of ``rest``, cut before a new clause."""
    return _trim(_CUT.sub("", rest[:200]))


def normalize_item(item: str) -> str:
    """The key form of a liked or disliked thing: lowercase, no article."""
    item = _SPACES.sub(" ", item.strip().lower())
    item = _ARTICLE.sub("", item)
    return item.replace("favorite", "favourite").strip(_TRIM)


def _capitalise(word: str) -> str:
    if word.islower() or (word.isupper() and len(word) > 1):
        return "-".join(p[:1].upper() + p[1:].lower() for p in word.split("-"))
    return word


def _take_name(rest: str, *, strict: bool) -> tuple[str, str] | None:
    """A name at the start of ``rest`` and the text after it.

    Strict mode (after "I'm"), the name must be capitalised as typed and not a
    common adjective; lax mode (after "my name is", "call me") takes what is
    there, as long as it looks like a word.
    """
    tokens = rest.split()
    if not tokens:
        return None
    taken: list[str] = []
    used = 0
    for raw in tokens[:3]:
        tok = raw.strip("\"'“”()*_,.!?;:")
        ends_clause = raw != raw.rstrip(",.!?;:")
        if not _WORD.match(tok) or tok.lower() in _NOT_NAMES or tok.endswith("'s"):
            break
        if (strict or taken) and not tok[:1].isupper():
            break
        if strict and tok.isupper() and len(tok) > 1 and not raw.isupper():
            break
        taken.append(_capitalise(tok.strip("'-")))
        used += 1
        if ends_clause or (not strict and tok.islower()):
            break
    if not taken:
        return None
    return " ".join(taken), " ".join(tokens[used:])


def _gerund(verb: str) -> str:
    """'cook' -> 'cooking', so "I like to cook" and "I like cooking" agree."""
    v = verb.lower()
    if v.endswith("ie"):
        return v[:-2] + "ying"
    if v.endswith("e") and not v.endswith(("ee", "ye", "oe")) and len(v) > 2:
        return v[:-1] + "ing"
    vowels = "aeiou"
    if (
        len(v) in (3, 4)
        and v[-1] not in vowels + "wxy"
        and v[-2] in vowels
        and v[-3] not in vowels
        and not (len(v) == 4 and v[0] in vowels)
    ):
        return v + v[-1] + "ing"
    return v + "ing"


# --------------------------------------------------------------------------
# Patterns
# --------------------------------------------------------------------------


def _rx(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern, re.IGNORECASE)


_I_AM = r"(?:i'm|im|i\s+am)"
_ADV = (
    r"(?:(?:really|also|absolutely|just|totally|do|kinda|kind of|sort of|truly|genuinely|"
    r"actually|still|always|definitely|quite|so|very|much)\s+)*"
)

_NAME_LAX = (
    _rx(r"\bmy\s+name\s*(?:is|'s|:|=)\s*(?P<rest>.+)"),
    _rx(r"(?:^|\bthe\s+)name's\s+(?P<rest>.+)"),
    _rx(r"\b(?:call|calls|called)\s+me\s+(?P<rest>.+)"),
    _rx(rf"\b{_I_AM}\s+(?:called|named|known\s+as)\s+(?P<rest>.+)"),
    _rx(r"\bi\s+go\s+by\s+(?P<rest>.+)"),
)
_NAME_IM = _rx(rf"\b{_I_AM}\s+(?P<rest>.+)")
_NAME_AFTER_OK = _rx(
    r"^(?:$|[,!.:;)\-–—]|and\b|from\b|here\b|by the way|btw|nice|hi\b|hello\b|:\)|\(|"
    r"speaking\b)"
)
_NAME_THIS_IS = _rx(r"\b(?:this\s+is|it's|it\s+is)\s+(?P<rest>.+)")
_NAME_HERE = _rx(r"^(?P<rest>[^\W\d_][\w'-]*(?:\s+[^\W\d_][\w'-]*)?\s+here)\s*[!.]*$")

_LOCATION = _rx(
    rf"\b(?:i\s+{_ADV}(?:now\s+|currently\s+|still\s+|actually\s+)?(?:live|reside|stay)\s+in|"
    r"i(?:'ve|\s+have)\s+been\s+(?:living|based|staying)\s+in|"
    rf"{_I_AM}\s+(?:now\s+|currently\s+)?(?:living|residing|located|based)\s+(?:in|out\s+of)|"
    rf"{_I_AM}\s+(?:originally\s+|actually\s+)?from|i\s+(?:originally\s+)?come\s+from|"
    r"i(?:'ve|\s+have)?\s+(?:just\s+|recently\s+|finally\s+)?(?:moved|relocated)\s+to|"
    r"(?:my\s+)?home\s+is(?:\s+in)?|my\s+home\s*town\s+is|i\s+grew\s+up\s+in)"
    r"\s+(?P<rest>.+)"
)
_PLACE_CONT = re.compile(r"^,\s*([A-Z][\w'.-]*(?:\s+[A-Z][\w'.-]*){0,2})")

_JOB_ROLE = _rx(
    r"\b(?:i\s+(?:currently\s+|now\s+)?work(?:ing)?\s+as|i'm\s+working\s+as|"
    r"my\s+(?:job|occupation|profession|role|job\s+title)\s+is|"
    r"i\s+(?:currently\s+)?(?:do|am\s+doing)(?=\s+\w.*\bfor\s+a\s+living))\s+(?P<rest>.+)"
)
_JOB_AT_AS = _rx(
    r"\bi\s+(?:currently\s+)?work\s+(?:at|for)\s+(?P<org>[^,.;!?]+?)\s+as\s+(?P<rest>.+)"
)
# "I teach for a living", "I drive a bus for a living": the job is what is done.
_JOB_LIVING = _rx(
    r"\bi\s+(?:currently\s+|now\s+|actually\s+)?(?P<verb>[a-z]+)(?P<obj>(?:\s+[\w'-]+){0,3}?)"
    r"\s+for\s+a\s+living\b"
)
# A job followed by a place: "a nurse in Oslo" is a job and a location.
_JOB_IN_PLACE = re.compile(
    r"^(?P<role>.+?)\s+in\s+(?P<place>[A-Z][\w'.-]*(?:\s+[A-Z][\w'.-]*){0,2})$"
)
# Label style, one per line: "Name: Bob", "Location: Oslo".
_LABEL = _rx(
    r"^\s*(?:my\s+)?(?P<label>name|location|city|home|job|occupation|profession|age)"
    r"\s*[:=]\s*(?P<value>[^\n:=]{1,80}?)\s*$"
)
_NO_VALUE = _words("unknown none n/a na - ? secret private tbd nothing")
_LABEL_KINDS = {
    "name": "name",
    "location": "location",
    "city": "location",
    "home": "location",
    "job": "job",
    "occupation": "job",
    "profession": "job",
}
_JOB_AT = _rx(r"\bi\s+(?:currently\s+|now\s+)?work\s+(?:at|for)\s+(?P<rest>.+)")
_JOB_IM_A = _rx(rf"\b{_I_AM}\s+(?:now\s+|currently\s+)?(?:an?)\s+(?P<rest>.+)")
_JOB_STATE = _rx(
    rf"\b{_I_AM}\s+(?P<state>retired|unemployed|self-employed|a\s+freelancer|"
    r"between\s+jobs|a\s+stay-at-home\s+(?:mom|mum|dad|parent))\b"
)

_LIKE = _rx(
    rf"\bi\s+{_ADV}(?P<verb>love|like|enjoy|adore|dig|prefer)\s+(?P<rest>.+)|"
    rf"\b{_I_AM}\s+{_ADV}(?:(?:a\s+)?(?:big\s+|huge\s+|great\s+|massive\s+)?fan\s+of|into|"
    r"fond\s+of|in\s+love\s+with|crazy\s+about|passionate\s+about|obsessed\s+with|keen\s+on)\s+(?P<rest2>.+)"
)
_LIKE_FAN = _rx(
    rf"\b{_I_AM}\s+(?:a\s+)?(?:big\s+|huge\s+|massive\s+)?(?P<item>[\w'-]+(?:\s+[\w'-]+)?)"
    r"\s+fan\s*$"
)
_DISLIKE = _rx(
    rf"\bi\s+{_ADV}(?:hate|dislike|detest|loathe|despise|can't\s+stand|cannot\s+stand|"
    r"can\s+not\s+stand|cant\s+stand|don't\s+care\s+for)\s+(?P<rest>.+)|"
    rf"\bi\s+(?:don't|dont|do\s+not)\s+{_ADV}(?:like|enjoy|love)\s+(?P<rest2>.+)|"
    rf"\b{_I_AM}\s+not\s+{_ADV}(?:(?:a\s+)?(?:big\s+|huge\s+)?fan\s+of|into|fond\s+of|"
    r"keen\s+on)\s+(?P<rest3>.+)"
)
_FAVOURITE = _rx(
    r"\bmy\s+(?:all[- ]time\s+)?favou?rite\s+(?P<what>[\w' -]{1,40}?)\s+(?:is|are)\s+"
    r"(?P<rest>.+)"
)
_FAVOURITE_REV = _rx(
    r"^(?P<rest>[\w' -]{1,40}?)\s+(?:is|are)\s+my\s+(?:all[- ]time\s+)?favou?rite"
    r"(?:\s+(?P<what>[\w' -]{1,40}))?\s*$"
)

_PREF_LENGTH_SHORT = _rx(
    r"\b(?:keep\s+(?:your\s+|the\s+)?(?:answers?|replies|reply|responses?|it|things)\s+"
    r"(?:short|brief|concise|to the point)|(?:be|stay)\s+(?:more\s+)?(?:brief|concise|terse)|"
    r"(?:i\s+)?(?:prefer|like|want|need|give\s+me)\s+(?:short|shorter|brief|concise)\s+"
    r"(?:answers?|replies|responses?)|(?:short|brief|concise)\s+(?:answers?|replies|responses?)"
    r"\s+please|(?:answer|reply|respond)\s+(?:briefly|concisely|in\s+one\s+sentence)|"
    r"(?:shorter|brief|concise)\s+(?:answers|replies)\s+(?:are\s+)?(?:better|preferred))\b"
)
_PREF_LENGTH_LONG = _rx(
    r"\b(?:(?:i\s+)?(?:prefer|like|want|need|give\s+me)\s+(?:long|longer|detailed|thorough|"
    r"in-depth)\s+(?:answers?|replies|responses?|explanations?)|(?:answer|reply|explain)\s+in\s+"
    r"(?:more\s+)?detail\s+please|be\s+(?:more\s+)?(?:detailed|thorough)|"
    r"(?:detailed|long)\s+(?:answers|replies)\s+please)\b"
)
_PREF_LANGUAGE = _rx(
    r"\b(?:(?:answer|reply|respond|write|talk|speak)\s+(?:to\s+me\s+)?(?:only\s+)?in|"
    r"(?:i\s+)?prefer\s+(?:answers\s+|replies\s+)?in|use)\s+(?P<lang>[^\W\d_]+)"
    r"(?:\s+(?:please|only|from now on))?\s*$"
)
_PREF_FORMAT = _rx(
    r"\b(?:use|prefer|give\s+me|answer\s+(?:in|with)|reply\s+(?:in|with)|format\s+"
    r"(?:answers\s+|it\s+)?(?:as|in|with))\s+(?P<fmt>bullet\s*points?|bullets|bulleted\s+lists?|"
    r"numbered\s+lists?|tables?|plain\s+text|markdown|headings|code\s+blocks?)\b|"
    r"\b(?:don't|do\s+not|never)\s+use\s+(?P<nofmt>markdown|emojis?|bullet\s*points?|tables?|"
    r"lists?|jargon)\b|\bno\s+(?P<nofmt2>emojis?|markdown|jargon)(?:\s+please)?\s*$"
)
_PREF_TONE = _rx(
    r"\b(?:be\s+(?:more\s+|a\s+bit\s+more\s+)?|use\s+a\s+|(?:talk|speak)\s+to\s+me\s+in\s+a\s+|"
    r"prefer\s+a\s+)(?P<tone>formal|informal|casual|friendly|polite|direct|blunt|funny|"
    r"serious|professional|playful|gentle|honest)(?:\s+tone)?\b|"
    r"\b(?:talk|speak|write)\s+(?:to\s+me\s+)?(?P<adv>formally|casually|informally|politely|"
    r"directly|professionally)\b"
)
_PREF_UNITS = _rx(r"\b(?:use|prefer)\s+(?P<units>metric|imperial)(?:\s+units)?\b")

_AGE = _rx(rf"\b{_I_AM}\s+(?P<age>\d{{1,3}})(?:\s*(?:years?\s+old|yrs?\s+old|y/?o))?\s*$")
_AGE_YEARS = _rx(rf"\b{_I_AM}\s+(?P<age>\d{{1,3}})\s+(?:years?|yrs?)\s+old\b")
_DIET = _rx(
    rf"\b{_I_AM}\s+(?:a\s+)?(?:strict\s+)?(?P<diet>vegetarian|vegan|pescatarian|"
    r"pescetarian)\b|\bi\s+(?:don't|do\s+not)\s+eat\s+(?P<noeat>meat|pork|fish|dairy|gluten)\b"
)
_ALLERGY = _rx(rf"\b{_I_AM}\s+(?:very\s+|severely\s+)?allergic\s+to\s+(?P<rest>.+)")
_SPEAK = _rx(r"\bi\s+(?:can\s+)?speak\s+(?P<rest>.+)")
_HAVE = _rx(
    r"\bi\s+(?:have|have\s+got|'ve\s+got|got)\s+(?P<rest>(?:a|an|one|two|three|four|five|"
    r"\d{1,2})\s+(?:[\w'-]+\s+){0,2}?(?:dogs?|cats?|kids?|children|child|sons?|daughters?|"
    r"brothers?|sisters?|siblings?|wife|husband|partner|girlfriend|boyfriend|birds?|parrots?|"
    r"fish|hamsters?|rabbits?|bunny|bunnies|horses?|turtles?|snakes?|guinea\s+pigs?|puppy|"
    r"kitten|grandchildren|grandkids|twins)\b(?:\s+(?:named|called)\s+[\w'-]+"
    r"(?:\s+and\s+[\w'-]+)?)?)"
)
_BIRTHDAY = _rx(r"\bmy\s+birthday\s+is\s+(?:on\s+)?(?P<rest>.+)")


# --------------------------------------------------------------------------
# Extraction
# --------------------------------------------------------------------------


def _blocked(clause: str, start: int) -> bool:
    return bool(_BLOCKERS.search(clause[max(0, start - 40) : start]))


def _name(clause: str, greeted: bool) -> list[Statement]:
    for rx in _NAME_LAX:
        m = rx.search(clause)
        if m and not _blocked(clause, m.start()):
            got = _take_name(m.group("rest"), strict=False)
            if got:
                return [Statement("name", "name", got[0])]
    m = _NAME_IM.search(clause)
    if m and not _blocked(clause, m.start()):
        got = _take_name(m.group("rest"), strict=True)
        if got and _NAME_AFTER_OK.match(got[1]):
            return [Statement("name", "name", got[0])]
    m = _NAME_THIS_IS.search(clause)
    if m:
        got = _take_name(m.group("rest"), strict=True)
        if got and (re.match(r"(?i)^(?:here|speaking)\b", got[1]) or (greeted and not got[1])):
            return [Statement("name", "name", got[0])]
    m = _NAME_HERE.match(clause)
    if m:
        got = _take_name(m.group("rest"), strict=True)
        if got and got[1].lower() == "here":
            return [Statement("name", "name", got[0])]
    return []


def _location(clause: str) -> list[Statement]:
    m = _LOCATION.search(clause)
    if not m or _blocked(clause, m.start()):
        return []
    rest = m.group("rest")
    head = re.split(r"[,;]", rest, maxsplit=1)[0]
    place = _phrase(head)
    cont = _PLACE_CONT.match(rest[len(head) :])
    if place and cont:
        place = f"{place}, {_trim(cont.group(1))}"
    if not place or len(place.split()) > _MAX_ITEM_WORDS or place.lower() in _NOT_ITEMS:
        return []
    return [Statement("location", "location", place)]


def _job_head(phrase: str) -> str:
    core = re.split(r"(?i)\s+(?:at|for|in|with|from|on)\s+", phrase, maxsplit=1)[0]
    words = core.lower().split()
    return words[-1] if words else ""


def _looks_like_job(phrase: str) -> bool:
    words = phrase.lower().split()
    if not words or words[0] in _JUDGEMENTS:
        return False
    head = _job_head(phrase)
    if head in _NOT_JOBS or (head.endswith("s") and head[:-1] in _NOT_JOBS):
        return False
    return head in _JOBS or (len(head) > 4 and head.endswith(_JOB_SUFFIXES))


# Verbs before "for a living" that are not what someone does for work.
_NOT_LIVING = _words("do did does am was is be have had get got need want love like hate")


def _job(clause: str) -> list[Statement]:
    m = _JOB_AT_AS.search(clause)
    if m and not _blocked(clause, m.start()):
        role = _ARTICLE.sub("", _phrase(m.group("rest")))
        org = _trim(m.group("org"))
        if role and org:
            return [Statement("job", "job", f"{role} at {org}")]
    m = _JOB_ROLE.search(clause)
    if m and not _blocked(clause, m.start()):
        rest = re.sub(r"(?i)\s+for\s+a\s+living.*$", "", m.group("rest"))
        role = _ARTICLE.sub("", _phrase(rest))
        if role and len(role.split()) <= _MAX_ITEM_WORDS:
            return [Statement("job", "job", role)]
    m = _JOB_LIVING.search(clause)
    if m and not _blocked(clause, m.start()) and m.group("verb").lower() not in _NOT_LIVING:
        role = _trim(f"{_gerund(m.group('verb').lower())}{m.group('obj')}")
        if role:
            return [Statement("job", "job", role)]
    m = _JOB_STATE.search(clause)
    if m and not _blocked(clause, m.start()):
        return [Statement("job", "job", _ARTICLE.sub("", m.group("state").lower()))]
    m = _JOB_IM_A.search(clause)
    if m and not _blocked(clause, m.start()):
        rest = re.split(r"(?i)\s+and\s+", m.group("rest"), maxsplit=1)[0]
        role = _phrase(rest)
        placed = _JOB_IN_PLACE.match(role)
        if placed and _looks_like_job(placed.group("role")):
            role = placed.group("role")
            where = [Statement("location", "location", placed.group("place"))]
        else:
            where = []
        words = role.split()
        if (
            role
            and len(words) <= _MAX_ITEM_WORDS
            and not re.search(r"(?i)\b(?:fan|lover|member|citizen|resident)\s+of\b", rest)
            and _looks_like_job(role)
        ):
            return [Statement("job", "job", role), *where]
    m = _JOB_AT.search(clause)
    if m and not _blocked(clause, m.start()):
        org = _phrase(m.group("rest"))
        if org and len(org.split()) <= _MAX_ITEM_WORDS and org.lower() not in _NOT_ITEMS:
            return [Statement("job", "job", f"works at {org}")]
    return []


def _items(rest: str, *, verb: str = "") -> list[str]:
    """The liked/disliked things in ``rest``: "jazz, blues and rock" -> three."""
    phrase = _phrase(re.split(r"[;:]", rest, maxsplit=1)[0])
    if not phrase:
        return []
    first = phrase.split()[0].lower()
    if first in _NOT_ITEMS:
        return []
    if first == "to":
        words = phrase.split()[1:]
        if not words or words[0].lower() in {"think", "know", "say", "believe", "be", "see"}:
            return []
        phrase = " ".join([_gerund(words[0]), *words[1:]])
    if verb.lower() == "prefer" and re.search(r"(?i)\b(?:answers?|replies|responses?)\b", phrase):
        return []
    parts = [phrase]
    if "," in phrase:
        parts = [p for p in re.split(r"\s*,\s*(?:and\s+|or\s+)?|\s+(?:and|or)\s+", phrase) if p]
    items = [_trim(p) for p in parts]
    return [i for i in items if i and len(i.split()) <= _MAX_ITEM_WORDS]


def _taste(kind: str, item: str) -> Statement:
    other = "dislike" if kind == "like" else "like"
    norm = normalize_item(item)
    return Statement(kind, f"{kind}:{norm}", item, (f"{other}:{norm}",))


def _tastes(clause: str) -> list[Statement]:
    m = _DISLIKE.search(clause)
    if m and not _blocked(clause, m.start()):
        rest = m.group("rest") or m.group("rest2") or m.group("rest3") or ""
        return [_taste("dislike", i) for i in _items(rest)]
    m = _FAVOURITE.search(clause) or _FAVOURITE_REV.match(clause)
    if m and not _blocked(clause, m.start()):
        what = _trim(m.group("what") or "thing").lower().replace("favorite", "favourite")
        value = _phrase(m.group("rest"))
        if value and len(value.split()) <= _MAX_ITEM_WORDS and value.lower() not in _NOT_ITEMS:
            key = f"like:favourite {normalize_item(what)}"
            return [Statement("like", key, f"{value} (favourite {what})")]
    m = _LIKE.search(clause)
    if m and not _blocked(clause, m.start()):
        rest = m.group("rest") or m.group("rest2") or ""
        return [_taste("like", i) for i in _items(rest, verb=m.group("verb") or "")]
    m = _LIKE_FAN.search(clause)
    if m and not _blocked(clause, m.start()):
        item = _trim(m.group("item"))
        if item and item.lower().split()[0] not in _NOT_ITEMS | {"not", "big", "huge", "the"}:
            return [_taste("like", item)]
    return []


def _pref(aspect: str, value: str) -> Statement:
    return Statement("preference", f"preference:{aspect}", value)


def _preferences(clause: str) -> list[Statement]:
    out: list[Statement] = []
    if _PREF_LENGTH_SHORT.search(clause):
        out.append(_pref("length", "short answers"))
    elif _PREF_LENGTH_LONG.search(clause):
        out.append(_pref("length", "detailed answers"))
    m = _PREF_LANGUAGE.search(clause)
    if m and m.group("lang").lower() in LANGUAGES:
        out.append(_pref("language", m.group("lang").capitalize()))
    m = _PREF_FORMAT.search(clause)
    if m:
        fmt = m.group("fmt")
        if fmt:
            value = _SPACES.sub(" ", fmt.lower())
            if value.startswith("bullet"):
                value = "bullet points"
            out.append(_pref("format", value))
        else:
            neg = (m.group("nofmt") or m.group("nofmt2") or "").lower()
            aspect = "emoji" if neg.startswith("emoji") else "format"
            out.append(_pref(aspect, f"no {_SPACES.sub(' ', neg)}"))
    m = _PREF_TONE.search(clause)
    if m:
        tone = m.group("tone") or (m.group("adv") or "")[:-2]
        tone = {"casu": "casual", "informa": "informal", "forma": "formal"}.get(tone, tone)
        tone = {"polite": "polite", "professiona": "professional", "direct": "direct"}.get(
            tone, tone
        )
        out.append(_pref("tone", tone.lower()))
    m = _PREF_UNITS.search(clause)
    if m:
        out.append(_pref("units", f"{m.group('units').lower()} units"))
    return out


def _facts(clause: str) -> list[Statement]:
    out: list[Statement] = []
    m = _AGE_YEARS.search(clause) or _AGE.search(clause)
    if m and not _blocked(clause, m.start()):
        age = int(m.group("age"))
        if 0 < age < 130:
            out.append(Statement("fact", "fact:age", f"{age} years old"))
    m = _DIET.search(clause)
    if m and not _blocked(clause, m.start()):
        diet = (m.group("diet") or "").lower().replace("pescetarian", "pescatarian")
        value = diet or f"doesn't eat {m.group('noeat').lower()}"
        out.append(Statement("fact", "fact:diet", value))
    m = _ALLERGY.search(clause)
    if m and not _blocked(clause, m.start()):
        what = _phrase(m.group("rest"))
        if what:
            out.append(
                Statement("fact", f"fact:allergy:{normalize_item(what)}", f"allergic to {what}")
            )
    m = _SPEAK.search(clause)
    if m and not _blocked(clause, m.start()):
        langs = _phrase(m.group("rest"))
        words = re.findall(r"[^\W\d_]+", langs)
        if words and all(
            w.lower() in LANGUAGES | {"and", "a", "bit", "of", "little"} for w in words
        ):
            out.append(Statement("fact", "fact:speaks", f"speaks {langs}"))
    m = _HAVE.search(clause)
    if m and not _blocked(clause, m.start()):
        what = _trim(m.group("rest"))
        out.append(Statement("fact", f"fact:has:{normalize_item(what)}", f"has {what}"))
    m = _BIRTHDAY.search(clause)
    if m and not _blocked(clause, m.start()):
        when = _phrase(m.group("rest"))
        if when and len(when.split()) <= 4:
            out.append(Statement("fact", "fact:birthday", f"birthday is {when}"))
    return out


def _from_clause(clause: str, question: bool, greeted: bool) -> list[Statement]:
    request = _REQUEST.match(clause)
    if request:
        clause = _FILLERS.sub("", clause[request.end() :]).strip()
    elif question:
        return []
    prefs = _preferences(clause)
    found = [*_name(clause, greeted), *prefs]
    if request and not found and question:
        return []
    found += _location(clause)
    found += _job(clause)
    if not prefs:
        found += _tastes(clause)
    found += _facts(clause)
    # "I'm a vegetarian" is a diet, not a job; "I'm Alice" is not a job either.
    if any(s.key == "fact:diet" for s in found):
        found = [s for s in found if s.kind != "job"]
    return found


def _dedupe(statements: list[Statement]) -> list[Statement]:
    """Keep the last statement per key, dropping ones a later statement replaces."""
    out: list[Statement] = []
    for i, st in enumerate(statements):
        later = statements[i + 1 :]
        if any(s.key == st.key or st.key in s.replaces for s in later):
            continue
        out.append(st)
    return out


def _labels(text: str) -> tuple[list[Statement], str]:
    """Statements written as labels ("Name: Bob"), and the text without those lines."""
    found: list[Statement] = []
    rest: list[str] = []
    for line in text.splitlines():
        m = _LABEL.match(line)
        value = _trim(m.group("value")) if m else ""
        label = m.group("label").lower() if m else ""
        if not value or value.lower() in _NOT_ITEMS | _NO_VALUE:
            rest.append(line)
        elif label == "age":
            if value.isdigit() and 0 < int(value) < 130:
                found.append(Statement("fact", "fact:age", f"{int(value)} years old"))
            else:
                rest.append(line)
        elif label == "name":
            got = _take_name(value, strict=False)
            if got and not got[1]:
                found.append(Statement("name", "name", got[0]))
            else:
                rest.append(line)
        elif len(value.split()) <= _MAX_ITEM_WORDS:
            kind = _LABEL_KINDS[label]
            found.append(Statement(kind, kind, _ARTICLE.sub("", value) if kind == "job" else value))
        else:
            rest.append(line)
    return found, "\n".join(rest)


def extract_statements(text: str) -> list[Statement]:
    """Statements about the user found in one message (possibly none).

    Never raises: any input, however odd, gives a (possibly empty) list.
    """
    if not isinstance(text, str) or not text.strip():
        return []
    found, text = _labels(_clean(text))
    for clause, question, greeted in _clauses(text):
        found.extend(_from_clause(clause, question, greeted))
        if len(found) > 50:
            break
    return _dedupe(found)


# Cheap test before asking a model: a statement about the person says "I",
# "me" or "my", gives a label ("Name: Bob"), or asks for a way of answering.
_ABOUT_THE_USER = re.compile(
    r"\b(?:i|i'm|im|i've|i'd|i'll|me|my|mine|myself|name|name's|call|here|it's|this\s+is|"
    r"home)\b|"
    r"\b(?:answers?|repl(?:y|ies)|respond|responses?|explain|explanations?|bullets?|"
    r"markdown|emojis?|jargon|formal(?:ly)?|casual(?:ly)?|informal(?:ly)?|polite(?:ly)?|"
    r"concise(?:ly)?|brief(?:ly)?|short|shorter|detailed|tone|metric|imperial|"
    r"talk|speak|write)\b|"
    r"^\s*(?:location|city|country|job|occupation|profession|age|pronouns|hobbies|likes)"
    r"\s*:",
    re.IGNORECASE,
)


def may_be_about_the_user(text: str) -> bool:
    """False when ``text`` cannot hold a statement about its writer (no model call needed)."""
    return bool(_ABOUT_THE_USER.search(_clean(text)))
